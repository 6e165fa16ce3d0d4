//! The benchmarks' fixed-response floor: the least a server on mio can do per request. One
//! thread, one mio `Poll`, edge-triggered; every complete request head read gets the same
//! canned `200` with a 1 KiB body (as `bench/` serves), no parsing beyond finding the blank
//! line. Our servers' CPU time per request is compared against this process's.
//!
//!     cargo build --release -p common --example floor
//!     target/release/examples/floor 127.0.0.1:18999
//!
//! Not a server to run for anything else: no limits, no timeouts, no HTTP.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    sent: usize,
}

fn canned() -> Vec<u8> {
    let body = vec![b'x'; 1024];
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
}

/// Reads until WouldBlock, answers every complete head, writes until WouldBlock. `false`
/// when the connection is over.
fn serve(conn: &mut Conn, response: &[u8]) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match conn.stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => conn.input.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    while let Some(end) = conn.input.windows(4).position(|w| w == b"\r\n\r\n") {
        conn.input.drain(..end + 4);
        conn.output.extend_from_slice(response);
    }
    while conn.sent < conn.output.len() {
        match conn.stream.write(&conn.output[conn.sent..]) {
            Ok(0) => return false,
            Ok(n) => conn.sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    conn.output.clear();
    conn.sent = 0;
    true
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18999".into())
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!("floor: listening on http://{}", listener.local_addr()?);
    let response = canned();
    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    let _ = stream.set_nodelay(true);
                    let token = Token(next);
                    next += 1;
                    poll.registry().register(
                        &mut stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    conns.insert(
                        token,
                        Conn {
                            stream,
                            input: Vec::new(),
                            output: Vec::new(),
                            sent: 0,
                        },
                    );
                }
                continue;
            }
            let token = event.token();
            let done = conns.get_mut(&token).is_some_and(|c| !serve(c, &response));
            if done {
                if let Some(mut c) = conns.remove(&token) {
                    let _ = poll.registry().deregister(&mut c.stream);
                }
            }
        }
    }
}
