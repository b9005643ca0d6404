//! A recording HTTP proxy in front of the emulator: what each request carried as it reached the
//! emulator (service, operation, and the region and access key of its SigV4 `Credential=`).
//!
//! moto accepts any credentials, so the only way to see which region and which credentials a
//! call was made with is to read its Authorization header on the wire. Point an SDK config's
//! `endpoint_url` at [`RecordingProxy::url`]; requests and answers are passed through unchanged.
//! HTTP/1.1 with `Content-Length` bodies only (what the SDK sends to these services).

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request as the emulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The signing name: `ecs`, `rds`, `sts`, `dynamodb`, `monitoring`, `application-autoscaling`.
    pub service: String,
    /// The operation (`UpdateService`, `AssumeRole`, …), from `X-Amz-Target`, the RPC v2 path or
    /// the query body's `Action=`.
    pub operation: String,
    pub region: String,
    pub access_key: String,
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<24} {:<26} region={:<15} key={}",
            self.service, self.operation, self.region, self.access_key
        )
    }
}

/// The proxy; it runs until the test's runtime ends.
pub struct RecordingProxy {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl RecordingProxy {
    /// A proxy on a free loopback port in front of `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> RecordingProxy {
        let upstream = upstream
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("the proxy's upstream {upstream} must be an http:// URL"))
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the recording proxy");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("the proxy's address")
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, log) = (upstream.clone(), log.clone());
                tokio::spawn(async move {
                    // A failed connection shows up as the SDK's own error in the test.
                    let _ = relay(client, &upstream, &log).await;
                });
            }
        });
        RecordingProxy { url, seen }
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

async fn relay(client: TcpStream, upstream: &str, log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    let (client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    let mut client_read = BufReader::new(client_read);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if client_read.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            head.push_str(&line);
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        let length = header(&head, "content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        client_read.read_exact(&mut body).await?;
        if let Ok(mut seen) = log.lock() {
            seen.push(describe(&head, &body));
        }
        server_write.write_all(head.as_bytes()).await?;
        server_write.write_all(&body).await?;
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn describe(head: &str, body: &[u8]) -> Seen {
    // Credential=AKID/20261202/eu-west-1/ecs/aws4_request
    let credential = header(head, "authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split([',', ' ']).next())
        .unwrap_or_default();
    let mut scope = credential.split('/');
    let access_key = scope.next().unwrap_or_default().to_string();
    let region = scope.nth(1).unwrap_or_default().to_string();
    let service = scope.next().unwrap_or_default().to_string();
    let path = head.split_whitespace().nth(1).unwrap_or_default();
    let operation = header(head, "x-amz-target")
        .and_then(|t| t.rsplit('.').next())
        .map(str::to_string)
        .or_else(|| path.split("/operation/").nth(1).map(str::to_string))
        .or_else(|| {
            String::from_utf8_lossy(body)
                .split('&')
                .find_map(|pair| pair.strip_prefix("Action=").map(str::to_string))
        })
        .unwrap_or_else(|| path.to_string());
    Seen {
        service,
        operation,
        region,
        access_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_head_gives_service_operation_region_and_key() {
        let head = "POST / HTTP/1.1\r\nhost: x\r\nauthorization: AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261202/eu-west-1/ecs/aws4_request, SignedHeaders=host, Signature=ab\r\nx-amz-target: AmazonEC2ContainerServiceV20141113.UpdateService\r\n\r\n";
        let seen = describe(head, b"");
        assert_eq!(
            seen,
            Seen {
                service: "ecs".into(),
                operation: "UpdateService".into(),
                region: "eu-west-1".into(),
                access_key: "ASIAEXAMPLE".into(),
            }
        );
        let query = "POST / HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/sts/aws4_request, Signature=x\r\n\r\n";
        assert_eq!(
            describe(query, b"Action=AssumeRole&Version=2011-06-15").operation,
            "AssumeRole"
        );
        let cbor =
            "POST /service/GraniteServiceVersion20100801/operation/GetMetricData HTTP/1.1\r\n\r\n";
        assert_eq!(describe(cbor, b"").operation, "GetMetricData");
    }
}
