//! An async runtime as one actor: a tokio runtime serving a line-echo TCP protocol, shut down
//! by the interrupt through a watch channel that the runtime's tasks observe.
//!
//! ```text
//! cargo run --example tokio_actor -- --addr 127.0.0.1:7879
//! nc 127.0.0.1 7879        # type lines; Ctrl-C the server: the client gets "bye"
//! ```
//!
//! The runtime lives on the actor's thread: `execute` builds it and blocks on the server;
//! `interrupt` sends on a `tokio::sync::watch` channel, which is `Send` and can be used from a
//! plain thread. The accept loop and every connection `select!` on it, so the server stops
//! accepting, each connection says goodbye, and `execute` returns once they are done (the
//! runtime's shutdown is bounded too).

use std::time::Duration;

use rungroup::signal::StopSignals;
use rungroup::Group;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

mod common;
use common::{log, Args};

const USAGE: &str = "tokio_actor [--addr HOST:PORT]";

fn main() {
    let args = Args::parse(USAGE);
    let addr = args.get("--addr").unwrap_or("127.0.0.1:7879").to_owned();
    let signals = StopSignals::termination().expect("cannot handle signals");
    let listener = common::bind(&addr);

    let (shutdown, stopping) = watch::channel(false);
    let mut g = Group::new();
    g.add_signals(signals);
    g.add_named(
        "tokio",
        move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let served = runtime.block_on(serve(listener, stopping));
            runtime.shutdown_timeout(Duration::from_secs(5));
            served?;
            Ok(())
        },
        move |_| {
            let _ = shutdown.send(true);
        },
    );

    common::finish(g.run(), "shut down gracefully");
}

async fn serve(
    listener: std::net::TcpListener,
    mut stopping: watch::Receiver<bool>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                connections.spawn(echo_lines(stream, stopping.clone()));
            }
            // A change, or the sender gone: either way, stop.
            _ = stopping.changed() => break,
        }
    }
    drop(listener);
    log("info", "msg=\"stopped accepting\"");
    while let Some(done) = connections.join_next().await {
        if let Ok(Err(err)) = done {
            log("warn", &format!("msg=\"connection failed\" err={err:?}"));
        }
    }
    log("info", "msg=\"connections closed\"");
    Ok(())
}

async fn echo_lines(stream: TcpStream, mut stopping: watch::Receiver<bool>) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    if *stopping.borrow_and_update() {
        return writer.write_all(b"bye\n").await;
    }
    loop {
        tokio::select! {
            line = lines.next_line() => match line? {
                Some(line) => writer.write_all(format!("got: {line}\n").as_bytes()).await?,
                None => return Ok(()),
            },
            _ = stopping.changed() => return writer.write_all(b"bye\n").await,
        }
    }
}
