//! A network plugin behind a real TCP listener: each client connection is proxied to the upstream
//! through the plugin, chunk by chunk, in a worker's VM (one connection at a time per worker).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::pool::Pool;
use super::worker::Job;
use super::{ConnectionRecord, ServeObserver, Shutdown};
use crate::host::{HostError, Vm};

/// What a proxied connection did, as the worker reports it.
#[derive(Default)]
pub(crate) struct Proxied {
    pub to_upstream: u64,
    pub to_downstream: u64,
    pub closed_by_plugin: bool,
    pub failure: Option<HostError>,
}

/// Accepts connections until `shutdown`, handing each to a worker.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    pool: Arc<Pool>,
    observer: Arc<dyn ServeObserver>,
    mut shutdown: Shutdown,
) -> std::io::Result<()> {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let Ok(client) = stream.into_std() else { continue };
                let (pool, observer) = (pool.clone(), observer.clone());
                tokio::spawn(async move { connection(client, peer, &pool, &*observer).await });
            }
            () = &mut shutdown => return Ok(()),
        }
    }
}

async fn connection(
    client: std::net::TcpStream,
    peer: SocketAddr,
    pool: &Pool,
    observer: &dyn ServeObserver,
) {
    let started = Instant::now();
    let (reply, answer) = tokio::sync::oneshot::channel();
    if !pool.send(Job::Connection { client, reply }) {
        return;
    }
    let Ok(proxied) = answer.await else { return };
    if let Some(err) = &proxied.failure {
        observer.plugin_failed(err);
    }
    observer.connection(&ConnectionRecord {
        peer,
        to_upstream: proxied.to_upstream,
        to_downstream: proxied.to_downstream,
        elapsed: started.elapsed(),
        closed_by_plugin: proxied.closed_by_plugin,
    });
}

/// Proxies `client` to `upstream` through the plugin, on the worker's runtime. Data goes both
/// ways as it comes; a client's close is passed upstream, and the connection ends when the
/// upstream closes (as Envoy's tcp_proxy does) or the plugin closes it; the plugin then hears
/// of each side's end, the side that closed first first.
pub(crate) async fn proxy(
    vm: &mut Vm,
    client: std::net::TcpStream,
    upstream: SocketAddr,
    proxied: &mut Proxied,
) -> Result<(), HostError> {
    let context = vm.open_connection()?;
    let pipes = match (
        TcpStream::from_std(client),
        TcpStream::connect(upstream).await,
    ) {
        (Ok(client), Ok(upstream)) => Some((client, upstream)),
        _ => None,
    };
    let upstream_first = match pipes {
        Some((client, upstream)) => pump(vm, context, client, upstream, proxied).await?,
        None => false,
    };
    vm.close_connection(context, upstream_first)
}

async fn pump(
    vm: &mut Vm,
    context: u32,
    client: TcpStream,
    upstream: TcpStream,
    proxied: &mut Proxied,
) -> Result<bool, HostError> {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let (mut from_client, mut from_upstream) = (vec![0u8; 16 << 10], vec![0u8; 16 << 10]);
    let mut client_open = true;
    loop {
        tokio::select! {
            read = client_read.read(&mut from_client), if client_open => match read {
                Ok(0) | Err(_) => {
                    client_open = false;
                    let _ = upstream_write.shutdown().await;
                }
                Ok(n) => if let Some(data) = vm.connection_data(context, &from_client[..n], true)? {
                    proxied.to_upstream += data.len() as u64;
                    if upstream_write.write_all(&data).await.is_err() { break }
                },
            },
            read = upstream_read.read(&mut from_upstream) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => if let Some(data) = vm.connection_data(context, &from_upstream[..n], false)? {
                    proxied.to_downstream += data.len() as u64;
                    if client_write.write_all(&data).await.is_err() { break }
                },
            },
        }
        if vm.connection_closed_by_plugin() {
            proxied.closed_by_plugin = true;
            break;
        }
    }
    let _ = client_write.shutdown().await;
    // Whether the upstream closed while the client was still open.
    Ok(client_open)
}
