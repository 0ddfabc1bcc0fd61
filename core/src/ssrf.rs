//! CRM webhook URL checks (server-side request forgery).
//!
//! In production a CRM URL must be https and must not resolve to loopback, private, link-local,
//! unique-local, CGNAT, multicast or unspecified addresses (cloud metadata endpoints live there).
//! The check runs when a URL is saved and again before every delivery, because DNS can change
//! after the URL was accepted. Development allows everything so local CRMs and test fakes work.

use std::net::IpAddr;

use url::Url;

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

/// True for addresses a production router must never call.
#[must_use]
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 CGNAT
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden_ip(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
        }
    }
}

/// Parses and checks a CRM URL's form (no DNS).
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
    Ok(url)
}

/// Checks form and, in production, every address the host resolves to.
///
/// # Errors
/// [`UrlError`].
pub async fn check(raw: &str, production: bool) -> Result<Url, UrlError> {
    let url = check_form(raw, production)?;
    if !production {
        return Ok(url);
    }
    let host = url.host_str().ok_or(UrlError::NotHttp)?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| UrlError::Unresolvable)?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.is_empty() {
        return Err(UrlError::Unresolvable);
    }
    if addrs.into_iter().any(is_forbidden_ip) {
        return Err(UrlError::PrivateAddress);
    }
    Ok(url)
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
        ] {
            assert_eq!(check(u, true).await.unwrap_err(), UrlError::PrivateAddress, "{u}");
            assert!(check(u, false).await.is_ok(), "{u}");
        }
        assert_eq!(check("http://93.184.216.34/", true).await.unwrap_err(), UrlError::NotHttps);
        assert!(check("https://93.184.216.34/hook", true).await.is_ok());
        assert_eq!(check("ftp://x/", false).await.unwrap_err(), UrlError::NotHttp);
        assert_eq!(check("https://u:p@93.184.216.34/", true).await.unwrap_err(), UrlError::Credentials);
    }
}
