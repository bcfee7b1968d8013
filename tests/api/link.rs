//! A TCP link between a browser and the hub that can die the way Wi-Fi
//! does: nothing is closed, nothing more arrives, until it comes back.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct LinkProxy {
    port: u16,
    /// `true` while the link carries nothing.
    cut: Arc<watch::Sender<bool>>,
    accept: tokio::task::JoinHandle<()>,
}

impl LinkProxy {
    /// A link to the hub at `hub` ("http://127.0.0.1:PORT").
    pub async fn start(hub: &str) -> Self {
        let target = hub.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(watch::Sender::new(false));
        let link = cut.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, link) = (target.clone(), link.clone());
                tokio::spawn(async move {
                    wait_until_up(&link).await;
                    let Ok(hub) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (hub_read, hub_write) = hub.into_split();
                    tokio::spawn(pump(client_read, hub_write, link.clone()));
                    tokio::spawn(pump(hub_read, client_write, link));
                });
            }
        });
        Self { port, cut, accept }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The link dies: bytes in flight stay where they are.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// The link is back: what waited goes on.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn wait_until_up(link: &watch::Sender<bool>) {
    let _ = link.subscribe().wait_for(|cut| !*cut).await;
}

/// Carries bytes one way while the link is up.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    link: Arc<watch::Sender<bool>>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        wait_until_up(&link).await;
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            let _ = to.shutdown().await;
            return;
        }
        // Read while up but the link died meanwhile: held until it is back.
        wait_until_up(&link).await;
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
