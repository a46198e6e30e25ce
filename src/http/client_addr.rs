//! Who is on the other end of a request: the client address every per-client
//! limit is keyed by, and whether the request came over HTTPS.
//!
//! The socket's peer is the client, unless the peer is one of the configured
//! trusted proxies (`limits.trusted_proxies`). Only then is `X-Forwarded-For`
//! read, from the right: each trusted hop vouches for the address to its left,
//! and the client is the right-most address that is not a trusted proxy.
//! Everything left of it was written by the client and proves nothing.
//! `X-Forwarded-Proto` is likewise believed only from a trusted proxy.

use std::future::{Ready, ready};
use std::net::{IpAddr, SocketAddr};

use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::{FromRequest, HttpRequest, web};
use ipnet::IpNet;

use crate::http::error::ApiError;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(networks)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client behind `peer`, given the request's headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        for hop in hops.into_iter().rev() {
            if !self.contains(client) {
                break;
            }
            match parse_hop(hop) {
                Some(address) => client = address,
                // Garbage left of a trusted hop: the trusted hop is all we know.
                None => break,
            }
        }
        client
    }

    /// Whether the request reached us over HTTPS: on a TLS listener, or
    /// through a trusted proxy that says so (`X-Forwarded-Proto: https`).
    pub fn is_https(&self, req: &HttpRequest) -> bool {
        if req.app_config().secure() {
            return true;
        }
        let Some(peer) = req.peer_addr() else {
            return false;
        };
        self.contains(peer.ip())
            && req
                .headers()
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                // Right-most: the value our trusted peer wrote (or passed on).
                .and_then(|value| value.rsplit(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
    }
}

/// `::ffff:10.0.0.1` is `10.0.0.1`: one client, one key.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(canonical)
}

/// The client address of a request (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    pub fn of(req: &HttpRequest) -> ClientAddr {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let address = match req.app_data::<web::Data<TrustedProxies>>() {
            Some(trusted) => trusted.client(peer, req.headers()),
            None => canonical(peer),
        };
        ClientAddr(address)
    }
}

impl FromRequest for ClientAddr {
    type Error = ApiError;
    type Future = Ready<Result<ClientAddr, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(ClientAddr::of(req)))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|s| s.parse().unwrap()).collect())
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_from_an_untrusted_peer_is_ignored() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = forwarded(&["1.2.3.4"]);
        assert_eq!(
            trusted.client(ip("203.0.113.9"), &headers),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.1/32"]);
        // spoofed by the client, then the client, then an inner proxy
        let headers = forwarded(&["6.6.6.6, 198.51.100.7", "192.0.2.1"]);
        assert_eq!(trusted.client(ip("10.1.1.1"), &headers), ip("198.51.100.7"));
    }

    #[test]
    fn every_hop_trusted_means_the_left_most_one_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = forwarded(&["10.2.2.2, 10.3.3.3"]);
        assert_eq!(trusted.client(ip("10.1.1.1"), &headers), ip("10.2.2.2"));
    }

    #[test]
    fn garbage_in_forwarded_for_stops_the_walk() {
        let trusted = proxies(&["10.0.0.1/32"]);
        let headers = forwarded(&["not-an-ip"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
        let headers = forwarded(&["198.51.100.7:4711"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &headers), ip("198.51.100.7"));
    }

    #[test]
    fn ipv4_mapped_ipv6_peers_are_their_ipv4_address() {
        let trusted = proxies(&["127.0.0.1/32"]);
        let headers = forwarded(&["198.51.100.7"]);
        assert_eq!(
            trusted.client(ip("::ffff:127.0.0.1"), &headers),
            ip("198.51.100.7")
        );
    }
}
