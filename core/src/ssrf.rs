//! CRM webhook URL checks (server-side request forgery).
//!
//! In production a CRM URL must be https and must not reach loopback, private, link-local,
//! unique-local, CGNAT, multicast, reserved or translation addresses (cloud metadata endpoints
//! live there; NAT64, 6to4 and Teredo addresses embed an IPv4 address the router's network may
//! route to, so they are refused as a whole). The table is [`FORBIDDEN_V4`] / [`FORBIDDEN_V6`].
//!
//! The check runs twice, for two different reasons:
//! * when a URL is saved ([`check`]), so a merchant hears at once that its URL is refused;
//! * when the worker connects, inside the CRM client's resolver ([`GuardedResolver`]). The
//!   resolver resolves the host once, refuses the whole answer when any address is forbidden, and
//!   hands reqwest only the addresses it checked, so the check and the connection cannot see two
//!   different DNS answers (DNS rebinding: a short TTL answering a public address to the check and
//!   `169.254.169.254` to the connection). IP-literal hosts never reach a resolver; [`check_form`]
//!   refuses forbidden literals instead.
//!
//! Development (and the tests, whose fakes listen on loopback) allows everything; the blocking is
//! switched on by `ROUTER_ENV=production`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use url::{Host, Url};

/// Why a URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("must be an absolute http(s) URL")]
    NotHttp,
    #[error("must use https in production")]
    NotHttps,
    #[error("host could not be resolved")]
    Unresolvable,
    #[error("resolves to a private, loopback or link-local address, which is not allowed")]
    PrivateAddress,
    #[error("must not contain credentials")]
    Credentials,
}

/// IPv4 ranges a production router never calls (RFC 6890 special-purpose registry, minus the
/// globally reachable entries).
pub const FORBIDDEN_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // CGNAT shared space
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link local (cloud metadata)
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation
    (Ipv4Addr::new(224, 0, 0, 0), 4),     // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),     // reserved, broadcast
];

/// IPv6 ranges a production router never calls. Everything outside global unicast `2000::/3` is
/// refused as well (loopback, unspecified, IPv4-compatible, unique local, link local, site local,
/// multicast…); IPv4-mapped addresses are judged by their IPv4 address.
pub const FORBIDDEN_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96), // NAT64 well-known prefix
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48), // NAT64 local use
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),    // IETF protocol assignments, Teredo 2001::/32
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),    // 6to4
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),    // documentation
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16),    // SRv6 SIDs
];

fn in_v4(ip: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn in_v6(ip: Ipv6Addr, (net, len): (Ipv6Addr, u8)) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

/// True for addresses a production router must never call.
#[must_use]
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => FORBIDDEN_V4.iter().any(|n| in_v4(v4, *n)),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_ip(IpAddr::V4(v4));
            }
            let global_unicast = (v6.segments()[0] & 0xe000) == 0x2000;
            !global_unicast || FORBIDDEN_V6.iter().any(|n| in_v6(v6, *n))
        }
    }
}

/// Parses and checks a CRM URL's form (no DNS). In production an IP-literal host must not be
/// forbidden (no resolver will see it).
///
/// # Errors
/// [`UrlError`].
pub fn check_form(raw: &str, production: bool) -> Result<Url, UrlError> {
    let url = Url::parse(raw).map_err(|_| UrlError::NotHttp)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(UrlError::NotHttp);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    if production && url.scheme() != "https" {
        return Err(UrlError::NotHttps);
    }
    if production && literal_ip(&url).is_some_and(is_forbidden_ip) {
        return Err(UrlError::PrivateAddress);
    }
    Ok(url)
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        Host::Domain(_) => None,
    }
}

/// Checks form and, in production, every address the host resolves to (when a URL is saved).
///
/// # Errors
/// [`UrlError`].
pub async fn check(raw: &str, production: bool) -> Result<Url, UrlError> {
    let url = check_form(raw, production)?;
    if !production || literal_ip(&url).is_some() {
        return Ok(url);
    }
    let host = url.host_str().ok_or(UrlError::NotHttp)?;
    checked_addrs(&Lookup::System, host).await?;
    Ok(url)
}

/// Where host names are resolved: the system resolver, or (tests) a fixed table answering each
/// name with its listed answers in turn, the last one repeating, to play a rebinding DNS server.
#[derive(Clone, Default)]
pub enum Lookup {
    #[default]
    System,
    Table(Arc<std::sync::Mutex<HashMap<String, std::collections::VecDeque<Vec<IpAddr>>>>>),
}

impl Lookup {
    /// A table lookup: `name → [first answer, second answer, …]`.
    #[must_use]
    pub fn table(entries: &[(&str, Vec<Vec<IpAddr>>)]) -> Self {
        let map = entries.iter().map(|(n, answers)| ((*n).to_owned(), answers.iter().cloned().collect())).collect();
        Self::Table(Arc::new(std::sync::Mutex::new(map)))
    }

    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, UrlError> {
        match self {
            Self::System => Ok(tokio::net::lookup_host((host, 0))
                .await
                .map_err(|_| UrlError::Unresolvable)?
                .map(|a| a.ip())
                .collect()),
            Self::Table(t) => {
                let mut t = t.lock().map_err(|_| UrlError::Unresolvable)?;
                let answers = t.get_mut(host).ok_or(UrlError::Unresolvable)?;
                let next = if answers.len() > 1 { answers.pop_front() } else { answers.front().cloned() };
                next.ok_or(UrlError::Unresolvable)
            }
        }
    }
}

/// Resolves `host` and returns its addresses when every one is allowed.
async fn checked_addrs(lookup: &Lookup, host: &str) -> Result<Vec<IpAddr>, UrlError> {
    let addrs = lookup.resolve(host).await?;
    if addrs.is_empty() {
        return Err(UrlError::Unresolvable);
    }
    if addrs.iter().any(|a| is_forbidden_ip(*a)) {
        return Err(UrlError::PrivateAddress);
    }
    Ok(addrs)
}

/// A connection to a CRM was refused by [`GuardedResolver`] because its host resolved to a
/// forbidden address; found in a reqwest error's source chain by [`blocked_by_guard`]. (A host
/// that does not resolve is an ordinary, retryable connection failure.)
#[derive(Debug, thiserror::Error)]
#[error("CRM host {host} {}", UrlError::PrivateAddress)]
pub struct Blocked {
    pub host: String,
}

/// The CRM client's resolver: one resolution per connection, checked, and the only addresses
/// reqwest may connect to. With `block_private = false` (development) it only resolves.
#[derive(Clone)]
pub struct GuardedResolver {
    lookup: Lookup,
    forbidden: fn(IpAddr) -> bool,
}

impl GuardedResolver {
    /// A resolver over `lookup`; `block_private` refuses [`is_forbidden_ip`] addresses.
    #[must_use]
    pub fn new(lookup: Lookup, block_private: bool) -> Self {
        let never: fn(IpAddr) -> bool = |_| false;
        Self::with_policy(lookup, if block_private { is_forbidden_ip } else { never })
    }

    /// A resolver refusing the addresses `forbidden` names. Tests, whose every server is on
    /// loopback, use it to let one loopback address play a public CRM and another an internal
    /// service.
    #[must_use]
    pub fn with_policy(lookup: Lookup, forbidden: fn(IpAddr) -> bool) -> Self {
        Self { lookup, forbidden }
    }

    async fn addrs(&self, host: String) -> Result<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>> {
        let addrs = self.lookup.resolve(&host).await.map_err(|_| format!("could not resolve {host}"))?;
        if addrs.is_empty() {
            return Err(format!("could not resolve {host}").into());
        }
        if addrs.iter().any(|a| (self.forbidden)(*a)) {
            return Err(Box::new(Blocked { host }));
        }
        Ok(Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0))))
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        let fut: BoxFuture<'static, _> = Box::pin(async move { this.addrs(host).await });
        fut
    }
}

/// The [`Blocked`] refusal behind a reqwest error, if that is what failed.
#[must_use]
pub fn blocked_by_guard<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Blocked> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(b) = err.downcast_ref::<Blocked>() {
            return Some(b);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn production_refuses_internal_targets_and_development_allows_them() {
        for u in [
            "https://127.0.0.1/x",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest",
            "https://[::1]/",
            "https://192.168.0.1/",
            "https://[::ffff:10.0.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[2002:a9fe:a9fe::1]/",
            "https://[2001:0:4136:e378::1]/",
            "https://[ff02::1]/",
        ] {
            assert_eq!(check(u, true).await.unwrap_err(), UrlError::PrivateAddress, "{u}");
            assert!(check(u, false).await.is_ok(), "{u}");
        }
        assert_eq!(check("http://93.184.216.34/", true).await.unwrap_err(), UrlError::NotHttps);
        assert!(check("https://93.184.216.34/hook", true).await.is_ok());
        assert!(check("https://[2606:2800:220:1:248:1893:25c8:1946]/hook", true).await.is_ok());
        assert_eq!(check("ftp://x/", false).await.unwrap_err(), UrlError::NotHttp);
        assert_eq!(check("https://u:p@93.184.216.34/", true).await.unwrap_err(), UrlError::Credentials);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_range_table_refuses_private_reserved_and_translated_addresses() {
        for a in [
            "0.1.2.3",
            "10.255.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.251",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::a00:1",          // IPv4-compatible (deprecated)
            "::ffff:127.0.0.1", // IPv4-mapped loopback
            "::ffff:169.254.169.254",
            "::ffff:0:a00:1",   // IPv4-translated
            "64:ff9b::a00:1",   // NAT64 of 10.0.0.1
            "64:ff9b::808:808", // NAT64 of a public address: refused as a whole
            "64:ff9b:1::1",     // NAT64 local use
            "100::1",           // discard-only
            "2001::1",          // Teredo
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",     // documentation
            "2002:a00:1::1",   // 6to4 of 10.0.0.1
            "2002:808:808::1", // 6to4 of a public address: refused as a whole
            "3fff::1",         // documentation
            "5f00::1",         // SRv6
            "fc00::1",         // unique local
            "fd12:3456::1",
            "fe80::1", // link local
            "fec0::1", // site local (deprecated)
            "ff02::1", // multicast
            "ff0e::1",
        ] {
            assert!(is_forbidden_ip(ip(a)), "{a} must be refused");
        }
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "2001:200::1", // just past 2001::/23
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
        ] {
            assert!(!is_forbidden_ip(ip(a)), "{a} must be allowed");
        }
    }

    #[tokio::test]
    async fn the_guarded_resolver_checks_the_answer_it_returns() {
        use reqwest::dns::Resolve;
        let lookup = Lookup::table(&[
            ("crm.example", vec![vec![ip("93.184.216.34")]]),
            ("mixed.example", vec![vec![ip("93.184.216.34"), ip("10.0.0.1")]]),
            ("rebind.example", vec![vec![ip("93.184.216.34")], vec![ip("127.0.0.1")]]),
        ]);
        let guard = GuardedResolver::new(lookup.clone(), true);
        let resolve = |n: &str| guard.resolve(n.parse().unwrap());
        let ok: Vec<SocketAddr> = resolve("crm.example").await.unwrap().collect();
        assert_eq!(ok, vec![SocketAddr::new(ip("93.184.216.34"), 0)]);
        let err = resolve("mixed.example").await.err().unwrap();
        assert_eq!(blocked_by_guard(err.as_ref()).unwrap().host, "mixed.example");
        // The second answer of a rebinding name is checked as well.
        assert!(resolve("rebind.example").await.is_ok());
        assert!(resolve("rebind.example").await.is_err());
        let unknown = resolve("unknown.example").await.err().unwrap();
        assert!(blocked_by_guard(unknown.as_ref()).is_none(), "not resolving is retryable, not a refusal");
        // Development: no blocking.
        let open = GuardedResolver::new(Lookup::table(&[("lo.example", vec![vec![ip("127.0.0.1")]])]), false);
        assert!(open.resolve("lo.example".parse().unwrap()).await.is_ok());
    }
}
