//! A forward HTTP proxy on loopback, as hosts in private subnets reach AWS
//! through: absolute-form requests are relayed, `CONNECT` opens a tunnel,
//! and basic authentication can be required. It records the authority of
//! everything it relays, so a test can tell what went through it and what
//! went around it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;

use crate::Error;
use crate::server::{Bound, HttpServer};
use crate::sync::lock;

/// A running proxy; stopped on drop.
pub struct ForwardProxy {
    state: Arc<ProxyState>,
    server: HttpServer,
}

impl std::fmt::Debug for ForwardProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardProxy")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

struct ProxyState {
    relayed: Mutex<Vec<Relayed>>,
    upstream: reqwest::Client,
    /// The `Proxy-Authorization` value required, if any.
    authorization: Option<String>,
    refused: AtomicUsize,
}

/// One request the proxy relayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed {
    /// The method (`CONNECT` for a tunnel).
    pub method: String,
    /// `host:port` it went to.
    pub authority: String,
}

/// Headers that concern one hop only and are not passed on.
const HOP_BY_HOP: &[header::HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::CONTENT_LENGTH,
];

impl ForwardProxy {
    /// Starts the proxy on a free loopback port.
    pub async fn start() -> Result<ForwardProxy, Error> {
        ForwardProxy::serve(None).await
    }

    /// Starts a proxy that answers 407 unless a request carries basic
    /// authentication as `user` with `password`.
    pub async fn requiring(user: &str, password: &str) -> Result<ForwardProxy, Error> {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        ForwardProxy::serve(Some(format!("Basic {token}"))).await
    }

    async fn serve(authorization: Option<String>) -> Result<ForwardProxy, Error> {
        let bound = Bound::new("forward proxy").await?;
        let state = Arc::new(ProxyState {
            relayed: Mutex::new(Vec::new()),
            upstream: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_default(),
            authorization,
            refused: AtomicUsize::new(0),
        });
        let router = Router::new().fallback(relay).with_state(state.clone());
        Ok(ForwardProxy {
            state,
            server: bound.serve(router),
        })
    }

    /// The proxy's URL, as `proxy_uri` takes it.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Everything relayed so far, in order.
    pub fn relayed(&self) -> Vec<Relayed> {
        lock(&self.state.relayed).clone()
    }

    /// Requests answered 407 for want of the right credentials.
    pub fn refused(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }

    /// How many requests (or tunnels) went to `authority` (`host:port`).
    pub fn relayed_to(&self, authority: &str) -> usize {
        lock(&self.state.relayed)
            .iter()
            .filter(|r| r.authority == authority)
            .count()
    }
}

async fn relay(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let Some(authority) = request.uri().authority().map(ToString::to_string) else {
        return (StatusCode::BAD_REQUEST, "not a proxy request\n").into_response();
    };
    if let Some(expected) = &state.authorization {
        let given = request.headers().get(header::PROXY_AUTHORIZATION);
        if given.and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            state.refused.fetch_add(1, Ordering::SeqCst);
            return (
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                [(header::PROXY_AUTHENTICATE, "Basic realm=\"slipway\"")],
            )
                .into_response();
        }
    }
    lock(&state.relayed).push(Relayed {
        method: request.method().to_string(),
        authority: authority.clone(),
    });
    if request.method() == Method::CONNECT {
        tokio::spawn(async move {
            let Ok(upgraded) = hyper::upgrade::on(request).await else {
                return;
            };
            let Ok(mut upstream) = tokio::net::TcpStream::connect(&authority).await else {
                return;
            };
            let mut upgraded = TokioIo::new(upgraded);
            let _ = tokio::io::copy_bidirectional(&mut upgraded, &mut upstream).await;
        });
        return StatusCode::OK.into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let answer = state
        .upstream
        .request(parts.method, parts.uri.to_string())
        .headers(end_to_end(parts.headers))
        .body(body)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => return (StatusCode::BAD_GATEWAY, format!("{error}\n")).into_response(),
    };
    let status = answer.status();
    let headers = end_to_end(answer.headers().clone());
    let Ok(body) = answer.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn end_to_end(mut headers: HeaderMap) -> HeaderMap {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove("proxy-connection");
    headers.remove("keep-alive");
    headers
}
