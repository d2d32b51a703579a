//! The registry API Docker uses, for one thing only: asking for an image manifest, which is
//! what makes a pull-through cache fetch an image from upstream. No layer is downloaded. The
//! token from `ecr:GetAuthorizationToken` stays inside this module: it is sent in the
//! `Authorization` header and never logged, returned or shown.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

use super::errors::{AwsError, ErrorKind};

/// What `docker pull` accepts, newest formats first: OCI and Docker indexes and manifests.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

pub const ACTION: &str = "registry:GetManifest";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub digest: String,
    pub media_type: String,
    pub size: usize,
}

/// `ecr:GetAuthorizationToken`'s answer. The token is a secret: no `Debug` that shows it.
pub struct RegistryAuth {
    pub token: String,
    pub endpoint: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("token", &"(secret)")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// The OCI distribution error of a failed request, as `(code, message)`.
fn oci_error(body: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let e = &v["errors"][0];
    (
        e["code"].as_str().unwrap_or("UNKNOWN").to_string(),
        e["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect()),
    )
}

fn kind_of(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::AccessDenied,
        404 => ErrorKind::NotFound,
        429 => ErrorKind::Throttled,
        400 => ErrorKind::Invalid,
        _ => ErrorKind::Other,
    }
}

fn error(code: &str, message: String, kind: ErrorKind) -> AwsError {
    AwsError {
        action: ACTION.into(),
        code: code.into(),
        message,
        kind,
        fix: "see ⟦cmd help⟧".into(),
    }
}

/// How long to wait for a connection (TCP and TLS), and for the whole answer after it.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether the registry token may be sent to `url`: only over HTTPS, or plain HTTP to this
/// machine (the emulator); anywhere else it would travel in clear text. `Err` says why.
pub fn allowed_url(url: &str) -> Result<bool, String> {
    if url.starts_with("https://") {
        return Ok(false);
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err("must be an https:// URL of the registry endpoint".into());
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(true)
    } else {
        Err(format!("must use https:// (plain http:// would send the registry token in clear text; it is allowed only to this machine), got host {host}"))
    }
}

/// `GET <base>/v2/<repository>/manifests/<reference>` with the registry token.
pub async fn get_manifest(
    auth: &RegistryAuth,
    base: &str,
    repository: &str,
    reference: &str,
) -> Result<Manifest, AwsError> {
    let plain = allowed_url(base).map_err(|why| {
        error(
            "InsecureRegistryUrl",
            format!("registry URL {base} {why}"),
            ErrorKind::Invalid,
        )
    })?;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.enforce_http(false);
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| {
            error(
                "TlsSetup",
                format!("no TLS root certificates: {e}"),
                ErrorKind::Network,
            )
        })?;
    let connector = if plain {
        builder.https_or_http().enable_http1().wrap_connector(http)
    } else {
        builder.https_only().enable_http1().wrap_connector(http)
    };
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    match tokio::time::timeout(
        READ_TIMEOUT,
        fetch(&client, auth, base, repository, reference),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(error(
            "Timeout",
            format!(
                "the registry at {base} did not answer within {} s",
                READ_TIMEOUT.as_secs()
            ),
            ErrorKind::Network,
        )),
    }
}

async fn fetch<C>(
    client: &Client<C, Empty<Bytes>>,
    auth: &RegistryAuth,
    base: &str,
    repository: &str,
    reference: &str,
) -> Result<Manifest, AwsError>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let url = format!(
        "{}/v2/{repository}/manifests/{reference}",
        base.trim_end_matches('/')
    );
    let request = http::Request::get(&url)
        .header(http::header::ACCEPT, ACCEPT)
        .header(http::header::AUTHORIZATION, format!("Basic {}", auth.token))
        .header(
            http::header::USER_AGENT,
            concat!("echo-onboard/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::new())
        .map_err(|e| error("InvalidUrl", format!("{url}: {e}"), ErrorKind::Invalid))?;
    let response = client.request(request).await.map_err(|e| {
        error(
            "NetworkError",
            format!("cannot reach the registry at {base}: {e}"),
            ErrorKind::Network,
        )
    })?;
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (digest, media_type) = (header("docker-content-digest"), header("content-type"));
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| {
            error(
                "NetworkError",
                format!("the registry's answer was cut off: {e}"),
                ErrorKind::Network,
            )
        })?
        .to_bytes();
    if !status.is_success() {
        let (code, message) = oci_error(&body);
        return Err(error(
            &code,
            format!("HTTP {}: {message}", status.as_u16()),
            kind_of(status.as_u16()),
        ));
    }
    Ok(Manifest {
        digest: digest.unwrap_or_else(|| format!("sha256:{:x}", Sha256::digest(&body))),
        media_type: media_type.unwrap_or_else(|| "application/octet-stream".into()),
        size: body.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_errors_and_kinds() {
        let (code, msg) = oci_error(
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"Requested image not found"}]}"#,
        );
        assert_eq!(
            (code.as_str(), msg.as_str()),
            ("MANIFEST_UNKNOWN", "Requested image not found")
        );
        assert_eq!(oci_error(b"<html>").0, "UNKNOWN");
        assert_eq!(kind_of(403), ErrorKind::AccessDenied);
        assert_eq!(kind_of(404), ErrorKind::NotFound);
    }

    #[test]
    fn the_token_goes_over_https_or_to_this_machine_only() {
        assert_eq!(
            allowed_url("https://1.dkr.ecr.eu-west-1.amazonaws.com"),
            Ok(false)
        );
        assert_eq!(allowed_url("http://127.0.0.1:5000/_registry/x"), Ok(true));
        assert_eq!(allowed_url("http://localhost:5000"), Ok(true));
        assert_eq!(allowed_url("http://[::1]:5000"), Ok(true));
        let e = allowed_url("http://registry.example.com").unwrap_err();
        assert!(
            e.contains("clear text") && e.contains("registry.example.com"),
            "{e}"
        );
        assert!(allowed_url("http://127.0.0.1.evil.example:80").is_err());
        assert!(allowed_url("ftp://x").is_err());
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let a = RegistryAuth {
            token: "QVdTOnNlY3JldA==".into(),
            endpoint: "https://x".into(),
        };
        assert!(!format!("{a:?}").contains("QVdT"));
    }
}
