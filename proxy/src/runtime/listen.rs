//! Accept loops: the inbound listener (connection cap, TLS, client identity), the egress one,
//! and the admin one.

use crate::admin::{AdminListener, AdminView};
use crate::inbound;
use crate::server::{in_box, serve_connection, ConnActivity, ConnCtx, ConnLimits};
use crate::state::Shared;
use crate::wire::ConnInfo;
use futures_util::FutureExt;
use std::convert::Infallible;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

async fn accept(
    listener: &TcpListener,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(TcpStream, std::net::SocketAddr)> {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`: every consumer
                // (lists, trusted proxies, limits, forwarding headers, records) gets the IPv4.
                Ok((stream, peer)) => return Some((stream, canonical_peer(peer))),
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            _ = crate::server::stopped(shutdown) => return None,
        }
    }
}

/// The peer as every later comparison wants it: an IPv4-mapped IPv6 address as IPv4.
fn canonical_peer(peer: std::net::SocketAddr) -> std::net::SocketAddr {
    std::net::SocketAddr::new(sightline_policy::canonical(peer.ip()), peer.port())
}

fn conn_limits(
    limits: &crate::config::Limits,
    idle: Duration,
    http1: crate::config::Http1Server,
) -> ConnLimits {
    ConnLimits {
        http1,
        refuse: inbound::refused_head,
        header_read_timeout: limits.header_read_timeout,
        idle_timeout: idle,
        max_head_bytes: limits.max_header_bytes + limits.max_uri_bytes + 1024,
        write_stall_timeout: limits.body_idle_timeout,
        drain_idle_grace: limits.drain_idle_grace,
    }
}

/// Which stack a listener serves.
#[derive(Clone, Copy, Debug)]
enum Stack {
    Inbound,
    Egress,
}

/// Accepts client connections until shutdown.
/// `stop` ends accepting (the listener closes when this returns); `shutdown` drains the
/// connections.
pub(super) async fn inbound(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
) {
    accept_loop(listener, shared, stop, shutdown, Stack::Inbound).await;
}

/// Accepts services calling out, until shutdown; `stop` and `shutdown` as for [`inbound`].
pub(super) async fn egress(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
) {
    accept_loop(listener, shared, stop, shutdown, Stack::Egress).await;
}

/// Accepts connections redirected to the transparent egress listener until `stop`; they count
/// toward the egress connections (their cap and the drain).
pub(super) async fn transparent(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    while let Some((stream, peer)) = accept(&listener, &mut stop).await {
        let Some(ticket) = egress_ticket(&shared) else {
            continue;
        };
        let activity = Arc::new(ConnActivity::tracked(ticket));
        tokio::spawn(crate::egress::transparent::serve(
            stream,
            peer,
            shared.clone(),
            activity,
        ));
    }
}

/// A place among the egress connections, or `None` (counted) when `egress.max_connections`
/// are open.
fn egress_ticket(shared: &Shared) -> Option<crate::server::ConnTicket> {
    let ticket = shared.egress_conns.open();
    let cap = shared
        .active()
        .config
        .egress
        .as_ref()
        .map_or(crate::config::EGRESS_MAX_CONNECTIONS, |e| e.max_connections);
    if shared.egress_conns.count() > cap {
        shared
            .recorder
            .counters()
            .egress_connections_rejected
            .fetch_add(1, Relaxed);
        return None;
    }
    Some(ticket)
}

/// The accept loop of either stack: a peer in the listener's `proxy_protocol.from` first
/// sends its PROXY header (read in the connection's task, within the header-read budget);
/// the client it names then goes through the same admission as a direct one.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
    stack: Stack,
) {
    while let Some((stream, peer)) = accept(&listener, &mut stop).await {
        let active = shared.active();
        let from = match stack {
            Stack::Inbound => &active.config.inbound.proxy_protocol_from[..],
            Stack::Egress => active
                .config
                .egress
                .as_ref()
                .map_or(&[][..], |e| &e.proxy_protocol_from[..]),
        };
        let peer_ip = sightline_policy::effective_ip(peer.ip());
        if from.iter().any(|n| n.contains(&peer_ip)) {
            let budget = active.config.limits.header_read_timeout;
            drop(active);
            tokio::spawn(behind_balancer(
                stream,
                peer,
                budget,
                shared.clone(),
                shutdown.clone(),
                stack,
            ));
            continue;
        }
        drop(active);
        admit(stream, peer, &shared, &shutdown, stack);
    }
}

/// Admits a connection to `stack`'s listener from `peer` (as the socket or a PROXY header
/// names it).
fn admit(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    shared: &Arc<Shared>,
    shutdown: &watch::Receiver<bool>,
    stack: Stack,
) {
    match stack {
        Stack::Inbound => admit_inbound(stream, peer, shared, shutdown),
        Stack::Egress => admit_egress(stream, peer, shared, shutdown),
    }
}

/// A connection from a network of `proxy_protocol.from` of its listener: its PROXY header
/// names the client, or the connection is closed.
async fn behind_balancer(
    mut stream: TcpStream,
    peer: std::net::SocketAddr,
    budget: Duration,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    stack: Stack,
) {
    use crate::server::proxy_protocol::read_header;
    match tokio::time::timeout(budget, read_header(&mut stream)).await {
        Ok(Ok(client)) => {
            admit(stream, client.unwrap_or(peer), &shared, &shutdown, stack);
        }
        Ok(Err(why)) => {
            tracing::debug!(%peer, %why, "PROXY header refused");
        }
        Err(_) => {
            tracing::debug!(%peer, "no PROXY header within header_read_timeout");
        }
    }
}

/// Admits an inbound connection from `peer` (the client, as the socket or a PROXY header names
/// it): the client guard, the connection cap, then serving.
fn admit_inbound(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    shared: &Arc<Shared>,
    shutdown: &watch::Receiver<bool>,
) {
    let active = shared.active();
    // The client guard's accept phase: lists, banned addresses, per-address caps.
    let flags = match shared.clients.accept(&active.config.clients, peer.ip()) {
        crate::clients::Accept::Serve(flags) => flags,
        crate::clients::Accept::Refuse(why) => {
            tracing::debug!(%peer, protection = why.as_str(), "connection refused");
            drop(stream);
            return;
        }
    };
    let limits = active.config.limits;
    let ticket = shared.inbound_conns.open();
    if shared.inbound_conns.count() > limits.max_connections {
        shared
            .recorder
            .counters()
            .connections_rejected
            .fetch_add(1, Relaxed);
        drop(ticket);
        drop(stream);
        return;
    }
    shared
        .recorder
        .counters()
        .connections_accepted
        .fetch_add(1, Relaxed);
    let tls = active.tls.clone();
    let http1 = active.config.runtime.http1;
    drop(active);
    let activity = Arc::new(ConnActivity::tracked(ticket));
    let limits = conn_limits(&limits, limits.idle_timeout, http1);
    start_conn(
        stream,
        peer,
        tls,
        (activity, flags),
        shared.clone(),
        limits,
        shutdown.clone(),
        Stack::Inbound,
    );
}

/// Admits an egress connection from `peer` (the caller, as the socket or a PROXY header names
/// it).
fn admit_egress(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    shared: &Arc<Shared>,
    shutdown: &watch::Receiver<bool>,
) {
    let Some(ticket) = egress_ticket(shared) else {
        return;
    };
    let active = shared.active();
    let limits = active.config.limits;
    let idle = active
        .egress
        .as_ref()
        .map_or(limits.idle_timeout, |e| e.idle_timeout);
    let tls = active.egress.as_ref().and_then(|e| e.tls.clone());
    let http1 = active.config.runtime.http1;
    drop(active);
    let activity = Arc::new(ConnActivity::tracked(ticket));
    let limits = conn_limits(&limits, idle, http1);
    start_conn(
        stream,
        peer,
        tls,
        (activity, Default::default()),
        shared.clone(),
        limits,
        shutdown.clone(),
        Stack::Egress,
    );
}

/// Starts serving one accepted connection: TLS first when the listener has it (the handshake
/// gets the header-read budget, so a silent client cannot hold a slot), then HTTP.
///
/// Each stage runs as a task of its own, spawned when the stage before it ends: a task's
/// future is allocated once, as large as its largest state, for the task's life, so the
/// connection's long wait for its next request is not sized by the handshake's state.
#[allow(clippy::too_many_arguments)]
fn start_conn(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    tls: Option<TlsAcceptor>,
    (activity, flags): (Arc<ConnActivity>, crate::clients::ConnFlags),
    shared: Arc<Shared>,
    limits: ConnLimits,
    shutdown: watch::Receiver<bool>,
    stack: Stack,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        let info = Arc::new(ConnInfo {
            peer,
            tls: false,
            identity: None,
            activity,
            flags,
        });
        spawn_serve(stream, info, shared, limits, shutdown, stack);
        return;
    };
    let conn = (activity, flags);
    tokio::spawn(handshake(
        stream, peer, acceptor, conn, shared, limits, shutdown, stack,
    ));
}

/// A TLS listener's connection: the handshake within the header-read budget, then HTTP (in a
/// task of its own).
#[allow(clippy::too_many_arguments)]
async fn handshake(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    acceptor: TlsAcceptor,
    (activity, flags): (Arc<ConnActivity>, crate::clients::ConnFlags),
    shared: Arc<Shared>,
    limits: ConnLimits,
    shutdown: watch::Receiver<bool>,
    stack: Stack,
) {
    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let info = Arc::new(ConnInfo {
                peer,
                tls: true,
                identity: peer_identity(&tls),
                activity,
                flags,
            });
            spawn_serve(tls, info, shared, limits, shutdown, stack);
        }
        Ok(Err(e)) => {
            shared
                .recorder
                .counters()
                .tls_handshake_failures
                .fetch_add(1, Relaxed);
            tracing::debug!(%peer, ?stack, error = %e, "TLS handshake failed");
        }
        Err(_) => {
            shared
                .recorder
                .counters()
                .tls_handshake_failures
                .fetch_add(1, Relaxed);
            tracing::debug!(%peer, ?stack, "TLS handshake timed out");
        }
    }
}

/// Spawns the task that serves HTTP on `io` with `stack`'s service. The task's future is the
/// server's own: nothing of the accept path stays in it.
fn spawn_serve<I>(
    io: I,
    info: Arc<ConnInfo<crate::clients::ConnFlags>>,
    shared: Arc<Shared>,
    limits: ConnLimits,
    shutdown: watch::Receiver<bool>,
    stack: Stack,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let ctx = ConnCtx {
        io,
        service: (),
        limits,
        activity: info.activity.clone(),
        shutdown,
    };
    // Every request counts as in flight until its response head is ready (the call's record
    // keeps counting its body), so a drain answers it instead of closing.
    // Boxed per request: the connection keeps a slot for its request's future for as long as
    // it is open, and the stack's future is kilobytes; a pointer idles cheaper. Each stack is
    // boxed on its own, so an inbound call's future is no larger (and no more to copy) than
    // the inbound stack needs; the egress stack's is twice as large. The call's future is
    // built in its box ([`in_box`]), and the in-flight mark is released by a combinator around
    // the box: nothing of kilobytes is copied per request. An `async` block around the call
    // would hold the request a second time and move the call's future into itself on its
    // first poll.
    match stack {
        Stack::Inbound => {
            let svc = hyper::service::service_fn(move |req| {
                let inflight = info.activity.begin();
                let slot = Box::new_uninit();
                let call = in_box(slot, inbound::handle(shared.clone(), info.clone(), req));
                call.map(move |resp| {
                    drop(inflight);
                    Ok::<_, Infallible>(resp)
                })
            });
            tokio::spawn(serve_connection(ctx.serving(svc)));
        }
        Stack::Egress => {
            let svc = hyper::service::service_fn(move |req| {
                let inflight = info.activity.begin();
                let slot = Box::new_uninit();
                let call = in_box(
                    slot,
                    crate::egress::handle(shared.clone(), info.clone(), req),
                );
                call.map(move |resp| {
                    drop(inflight);
                    Ok::<_, Infallible>(resp)
                })
            });
            tokio::spawn(serve_connection(ctx.serving(svc)));
        }
    }
}

/// The identity in a verified client certificate, if the client sent one.
fn peer_identity<I>(tls: &tokio_rustls::server::TlsStream<I>) -> Option<Arc<str>> {
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(sightline_certs::peer_identity)
        .map(Arc::<str>::from)
}

/// Accepts admin connections until shutdown; with `admin.tls`, the handshake comes first
/// (within the header-read budget).
pub(super) async fn admin(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let port = listener.local_addr().map_or(0, |a| a.port());
    // One table for the listener's life: sessions outlive connections and reloads.
    let sessions = Arc::new(sightline_dashboard::Sessions::default());
    // Admin connections are counted here only, for the cap: the drain does not wait for them.
    let open = Arc::new(crate::server::ConnTracker::default());
    while let Some((stream, peer)) = accept(&listener, &mut shutdown).await {
        let ticket = open.open();
        let admin = shared.active().config.admin.clone();
        if open.count() > admin.max_connections {
            shared
                .recorder
                .counters()
                .admin_connections_rejected
                .fetch_add(1, Relaxed);
            drop(ticket);
            drop(stream);
            continue;
        }
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        let tls = shared.active().admin_tls.clone();
        let mut known = AdminListener {
            sessions: sessions.clone(),
            port,
            tls: tls.is_some(),
        };
        tokio::spawn(async move {
            let limits = ConnLimits {
                header_read_timeout: admin.read_timeout,
                idle_timeout: admin.idle_timeout,
                max_head_bytes: 64 * 1024,
                write_stall_timeout: admin.idle_timeout,
                drain_idle_grace: Duration::from_secs(1),
                http1: crate::config::Http1Server::Hyper,
                refuse: inbound::refused_head,
            };
            let activity = Arc::new(ConnActivity::tracked(ticket));
            let Some(acceptor) = tls else {
                serve_admin(stream, shared, known, limits, activity, shutdown).await;
                return;
            };
            match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    known.tls = true;
                    serve_admin(tls, shared, known, limits, activity, shutdown).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "admin TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "admin TLS handshake timed out"),
            }
        });
    }
}

/// HTTP on one admin connection.
async fn serve_admin<I>(
    io: I,
    shared: Arc<Shared>,
    known: AdminListener,
    limits: ConnLimits,
    activity: Arc<ConnActivity>,
    shutdown: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let view = Arc::new(AdminView::new(shared, known));
    let seen = activity.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let view = view.clone();
        let seen = seen.clone();
        // Each request restarts the idle timer.
        seen.request_started();
        async move {
            let resp = view.handle_incoming(req).await;
            seen.request_finished();
            Ok::<_, Infallible>(resp)
        }
    });
    let ctx = ConnCtx {
        io,
        service: svc,
        limits,
        activity,
        shutdown,
    };
    serve_connection(ctx).await;
}
