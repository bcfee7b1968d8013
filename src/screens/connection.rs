//! The TCP connection under a screen, so that a screen the hub ends takes
//! its connection with it. Ending the screen's task is not enough: its
//! connection's writer (actix-http's dispatcher) waits without a deadline
//! for a client that stopped reading to take the bytes already queued, and
//! a connection closed with bytes queued lingers in the kernel with them.
//! Either way the descriptor or the kernel's queue stays, and a graceful
//! stop waits for it. So the hub holds the socket until the client took
//! everything sent, and resets the connection if it does not in time.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use tokio::time::{Instant, sleep};

/// How often a held connection is asked whether its client took
/// everything, while it has the time to.
const SETTLE_CHECK: Duration = Duration::from_millis(20);

/// An accepted connection's socket, by descriptor and by the kernel's
/// identity of the socket (its inode): a descriptor's number is reused as
/// soon as it is closed, so the inode tells whether it is still this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    fd: RawFd,
    inode: u64,
}

impl Connection {
    /// The connection behind `socket`, read when it is accepted.
    pub fn of(socket: &impl AsRawFd) -> Option<Self> {
        let fd = socket.as_raw_fd();
        inode(fd).map(|inode| Self { fd, inode })
    }

    /// Keeps the socket open (a second descriptor of it) whatever its
    /// writer does from now on; `None` when the connection is already gone.
    /// Must be called on the thread that serves the connection, which is
    /// the only one that closes its descriptor.
    pub fn hold(self) -> Option<Held> {
        if inode(self.fd) != Some(self.inode) {
            return None;
        }
        // SAFETY: duplicating a descriptor number is a plain system call;
        // the inode check above, on the thread that would close it, makes
        // it this connection's socket.
        let copy = unsafe { libc::fcntl(self.fd, libc::F_DUPFD_CLOEXEC, 0) };
        // SAFETY: a descriptor fcntl just returned is open and ours alone.
        (copy >= 0).then(|| Held(unsafe { OwnedFd::from_raw_fd(copy) }))
    }
}

/// A connection the hub has finished with. Dropped, it is closed
/// gracefully if the client took everything sent, and reset otherwise:
/// the kernel discards the queue at once and the connection's writer, if it
/// is still waiting, fails and lets go.
pub struct Held(OwnedFd);

impl Held {
    /// Waits, at most `grace`, for the client to take everything sent (a
    /// close frame included); then lets go (see [`Held`]).
    pub async fn settle(self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while self.unacknowledged() > 0 && Instant::now() < deadline {
            sleep(SETTLE_CHECK).await;
        }
    }

    /// Bytes sent, or queued to send, that the client has not acknowledged.
    fn unacknowledged(&self) -> libc::c_int {
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ (SIOCOUTQ for a socket) writes one int.
        let asked = unsafe { libc::ioctl(self.0.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
        if asked == 0 { queued } else { 0 }
    }

    fn cut(&self) {
        let fd = self.0.as_raw_fd();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: socket options and a shutdown on a descriptor this value
        // owns; a zero linger makes its last close a reset.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.unacknowledged() > 0 {
            self.cut();
        }
    }
}

/// The inode of the socket open at `fd`, if one is.
fn inode(fd: RawFd) -> Option<u64> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a `stat` into the buffer it is given, and only
    // when it succeeds is the buffer read.
    let stat = unsafe {
        if libc::fstat(fd, stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    (stat.st_mode & libc::S_IFMT == libc::S_IFSOCK).then_some(stat.st_ino)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn pair() -> (TcpListener, TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        (listener, client, accepted)
    }

    #[test]
    fn a_connection_whose_client_took_everything_closes_gracefully() {
        let (_listener, mut client, mut accepted) = pair();
        let held = Connection::of(&accepted).unwrap().hold().unwrap();
        accepted.write_all(b"bye").unwrap();
        let mut read = [0; 3];
        client.read_exact(&mut read).unwrap();
        // Acknowledged as soon as read into the client's kernel; wait for it.
        while held.unacknowledged() > 0 {
            std::thread::yield_now();
        }
        drop((held, accepted));
        assert_eq!(client.read(&mut read).unwrap(), 0, "an orderly end");
    }

    #[test]
    fn a_connection_whose_client_stopped_reading_is_reset() {
        let (_listener, mut client, mut accepted) = pair();
        accepted.set_nonblocking(true).unwrap();
        let held = Connection::of(&accepted).unwrap().hold().unwrap();
        // Fill the client's window and the hub's queue.
        let chunk = [0u8; 64 * 1024];
        while accepted.write(&chunk).is_ok() {}
        // The writer lets go as it would (closing its descriptor, queue and all).
        drop(accepted);
        assert!(held.unacknowledged() > 0);
        drop(held);
        let mut sink = vec![0; 1 << 20];
        let ended = loop {
            match client.read(&mut sink) {
                Ok(0) => break None,
                Ok(_) => continue,
                Err(err) => break Some(err.kind()),
            }
        };
        assert_eq!(ended, Some(ErrorKind::ConnectionReset));
    }

    #[test]
    fn a_closed_connection_is_not_held_even_when_its_number_is_reused() {
        let (listener, _client, accepted) = pair();
        let connection = Connection::of(&accepted).unwrap();
        drop(accepted);
        assert!(connection.hold().is_none());
        // Its number may now belong to another socket: never that one.
        let _other = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(connection.hold().is_none());
    }
}
