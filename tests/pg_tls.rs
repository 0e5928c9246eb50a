//! TLS to Postgres: a throwaway cluster serving TLS only on 127.0.0.1 with
//! a certificate signed by a CA made here (openssl), reached as the URL's
//! `sslmode` and `sslrootcert` ask.

mod support;

use std::path::Path;
use std::process::Command;

use outpost::store::Store;
use support::postgres::TlsCluster;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` in `dir`: `name.crt` and `name.key`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=outpost test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// `server.crt` / `server.key` for 127.0.0.1 and localhost, signed by `ca`.
fn make_server_cert(dir: &Path, ca: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
}

fn open(url: &str) -> Result<Store, String> {
    Store::postgres(url).map_err(|e| e.to_string())
}

#[test]
fn sslmode_is_honoured_over_tcp_with_a_self_signed_ca() {
    let certs = tempfile::tempdir().unwrap();
    make_ca(certs.path(), "ca");
    make_ca(certs.path(), "other-ca");
    make_server_cert(certs.path(), "ca");
    let cluster = TlsCluster::start(
        &certs.path().join("server.crt"),
        &certs.path().join("server.key"),
    );
    let root = certs.path().join("ca.crt");
    let wrong_root = certs.path().join("other-ca.crt");

    // The server refuses plain TCP: a connection made means TLS was used.
    let refused = open(&cluster.url("sslmode=disable")).expect_err("no TLS, no entry");
    assert!(refused.contains("no encryption"), "{refused}");

    // require: encrypted, the certificate not checked (as with libpq).
    let store = open(&cluster.url("sslmode=require")).expect("require connects");
    store.ping().unwrap();
    drop(store);
    // prefer, the default, takes TLS when offered.
    open(&cluster.url(""))
        .expect("prefer connects")
        .ping()
        .unwrap();

    // verify-full with the CA that signed it, in the URL form too.
    let store = open(&cluster.url(&format!(
        "sslmode=verify-full sslrootcert='{}'",
        root.display()
    )))
    .expect("verify-full with the right root connects");
    store.ping().unwrap();
    drop(store);
    let url = format!(
        "postgres://{}@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}",
        cluster.user,
        cluster.port,
        root.display()
    );
    open(&url).expect("the URL form").ping().unwrap();

    // A root that did not sign it: refused, saying why.
    for mode in ["verify-full", "verify-ca", "require"] {
        let err = open(&cluster.url(&format!(
            "sslmode={mode} sslrootcert={}",
            wrong_root.display()
        )))
        .expect_err("a wrong root is refused");
        assert!(
            err.contains("the server's certificate is not signed by sslrootcert")
                && err.contains("other-ca.crt"),
            "{mode}: {err}"
        );
    }
    // Without a root file, the Mozilla roots do not know a private CA.
    let err = open(&cluster.url("sslmode=verify-full")).expect_err("refused");
    assert!(
        err.contains("not signed by the Mozilla root certificates"),
        "{err}"
    );
}
