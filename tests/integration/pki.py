"""A test certificate authority made with the openssl CLI: a CA, server certificates for the TLS
tests' names, a client certificate, an expired one, and issue() for more."""
import os
import subprocess
import tempfile
import textwrap


def sh(*args, cwd):
    subprocess.run(list(args), cwd=cwd, check=True, capture_output=True)


class Pki:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gatehouse-pki-")
        d = self.dir
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=gatehouse test CA", cwd=d)
        self.server("ab", ["a.example.com", "b.example.com"])
        self.server("wild", ["*.wild.example.com"])
        self.server("local", ["localhost"])
        self.client("client1", "alice")
        # an expired certificate, through `openssl ca` (the only CLI way to set dates in the past)
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write(textwrap.dedent(f"""
                [ca]
                default_ca = test
                [test]
                dir = {d}
                database = {d}/index.txt
                new_certs_dir = {d}
                serial = {d}/serial
                default_md = sha256
                policy = any
                copy_extensions = copy
                [any]
                commonName = supplied
            """))
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")
        sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "old.key", "-out", "old.csr", "-subj", "/CN=old.example.com", cwd=d)
        sh("openssl", "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in", "old.csr", "-out", "old.pem",
           "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", cwd=d)

    def path(self, name):
        return os.path.join(self.dir, name)

    def server(self, name, dns):
        self.issue(name, dns[0], "subjectAltName=" + ",".join(f"DNS:{n}" for n in dns))

    def client(self, name, cn):
        self.issue(name, cn, f"subjectAltName=DNS:{cn}.clients.example.com\nextendedKeyUsage=clientAuth")

    def issue(self, name, cn, extensions):
        """name.key and name.pem: a certificate for CN `cn` signed by the test CA."""
        sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=self.dir)
        ext = os.path.join(self.dir, f"{name}.ext")
        with open(ext, "w") as f:
            f.write(extensions + "\n")
        sh("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "30",
           "-extfile", ext, cwd=self.dir)
