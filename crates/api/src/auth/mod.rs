//! Who may call what, and the protections around every request: authentication and the
//! per-route permission table, rate limits, the client address behind trusted proxies,
//! security headers and CORS, and the `/metrics` guard.

pub mod client_addr;
pub mod headers;
pub mod metrics;
pub mod middleware;
pub mod permissions;
pub mod rate_limit;
mod redis_limit;
pub mod session_cookie;

pub use client_addr::ClientAddr;
