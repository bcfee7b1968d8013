//! The fan-out ceiling: a bare WebSocket broadcast server on the hub's own
//! stack (actix-web, actix-ws, a tokio broadcast channel), without actors,
//! database, login or snapshots. `POST /send` hands its body to every
//! socket on `/ws` and answers once it is on the channel. `edit-load`
//! measures an admin's edit reaching the hub's floor screens against this.
//!
//! target/release/examples/bare-broadcast --bind 127.0.0.1:PORT

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytestring::ByteString;
use futures_util::StreamExt;
use tokio::sync::broadcast;

type Channel = web::Data<broadcast::Sender<ByteString>>;

async fn socket(
    req: HttpRequest,
    body: web::Payload,
    channel: Channel,
) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut incoming) = actix_ws::handle(&req, body)?;
    let mut frames = channel.subscribe();
    actix_web::rt::spawn(async move {
        loop {
            tokio::select! {
                frame = frames.recv() => match frame {
                    Ok(text) => if session.text(text).await.is_err() { break },
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                message = incoming.next() => match message {
                    Some(Ok(actix_ws::Message::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() { break }
                    }
                    Some(Ok(actix_ws::Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        let _ = session.close(None).await;
    });
    Ok(response)
}

async fn send(body: web::Bytes, channel: Channel) -> HttpResponse {
    match ByteString::try_from(body) {
        Ok(text) => HttpResponse::Ok().body(channel.send(text).unwrap_or(0).to_string()),
        Err(_) => HttpResponse::BadRequest().body("text only"),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let bind = match (args.next().as_deref(), args.next()) {
        (Some("--bind"), Some(bind)) => bind,
        _ => "127.0.0.1:8090".to_owned(),
    };
    let channel = web::Data::new(broadcast::channel::<ByteString>(1024).0);
    HttpServer::new(move || {
        App::new()
            .app_data(channel.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
            .route("/ws", web::get().to(socket))
            .route("/send", web::post().to(send))
    })
    .on_connect(|connection, _| {
        if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = tcp.set_nodelay(true);
        }
    })
    .bind(bind)?
    .run()
    .await
}
