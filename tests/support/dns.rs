//! A real DNS server on loopback (UDP) answering from a table, for the
//! deliverability preflight: outpost's resolver asks it over the wire
//! exactly as it asks the system's. Unknown names are NXDOMAIN; a known name
//! without the asked type answers NOERROR with no records.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{MX, TXT};
use hickory_proto::rr::{Name, RData, Record};

type Table = HashMap<String, Vec<RData>>;

pub struct DnsServer {
    pub addr: SocketAddr,
    table: Arc<Mutex<Table>>,
    stop: Arc<AtomicBool>,
    /// How many queries were answered, to show a lookup went over the wire.
    pub queries: Arc<std::sync::atomic::AtomicUsize>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsServer {
    pub fn start() -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP port");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let table: Arc<Mutex<Table>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (t, s, q) = (table.clone(), stop.clone(), queries.clone());
        std::thread::spawn(move || serve(socket, t, s, q));
        DnsServer {
            addr,
            table,
            stop,
            queries,
        }
    }

    pub fn txt(&self, name: &str, text: &str) -> &Self {
        self.add(name, RData::TXT(TXT::new(vec![text.to_string()])))
    }

    pub fn mx(&self, domain: &str, exchange: &str) -> &Self {
        let exchange = Name::from_ascii(format!("{}.", key(exchange))).unwrap();
        self.add(domain, RData::MX(MX::new(10, exchange)))
    }

    /// A name that exists (an A record) without the records a test asks about.
    pub fn exists(&self, name: &str) -> &Self {
        self.add(name, RData::A("192.0.2.1".parse().unwrap()))
    }

    fn add(&self, name: &str, data: RData) -> &Self {
        self.table
            .lock()
            .unwrap()
            .entry(key(name))
            .or_default()
            .push(data);
        self
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(
    socket: UdpSocket,
    table: Arc<Mutex<Table>>,
    stop: Arc<AtomicBool>,
    queries: Arc<std::sync::atomic::AtomicUsize>,
) {
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let Ok(request) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        queries.fetch_add(1, Ordering::SeqCst);
        let mut response = Message::new(
            request.metadata.id,
            MessageType::Response,
            request.metadata.op_code,
        );
        response.metadata.authoritative = true;
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        if let Some(edns) = &request.edns {
            response.edns = Some(edns.clone());
        }
        let table = table.lock().unwrap();
        for query in &request.queries {
            response.add_query(query.clone());
            let name = key(&query.name().to_ascii());
            match table.get(&name) {
                None => response.metadata.response_code = ResponseCode::NXDomain,
                Some(records) => {
                    for data in records
                        .iter()
                        .filter(|d| d.record_type() == query.query_type())
                    {
                        response.add_answer(Record::from_rdata(
                            query.name().clone(),
                            60,
                            data.clone(),
                        ));
                    }
                    // A name with no record of the asked type: NOERROR, empty.
                }
            }
        }
        drop(table);
        if let Ok(bytes) = response.to_vec() {
            let _ = socket.send_to(&bytes, from);
        }
    }
}

/// One server for the whole test binary, where every domain the sandbox and
/// the sample sequences send from passes SPF, DKIM and DMARC: configs point
/// `[sending] dns_server` at it so no test asks a resolver off the machine.
pub fn shared() -> SocketAddr {
    static SHARED: std::sync::OnceLock<DnsServer> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| {
            let dns = DnsServer::start();
            for domain in ["acme-sales.example", "acme.io"] {
                dns.txt(domain, "v=spf1 include:_spf.google.com ~all")
                    .txt(
                        &format!("google._domainkey.{domain}"),
                        "v=DKIM1; k=rsa; p=MIIBIjANBgkqh",
                    )
                    .txt(&format!("_dmarc.{domain}"), "v=DMARC1; p=none");
            }
            dns
        })
        .addr
}
