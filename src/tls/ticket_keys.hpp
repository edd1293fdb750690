#pragma once
// Session-ticket keys shared by every worker and every listener context, rotated on the control
// thread: a client resumes on any worker, and across config reloads (which build new SSL_CTXs).
// The newest key encrypts; the previous ones still decrypt (and ask for a fresh ticket).
#include <openssl/ssl.h>

namespace gatehouse::tls {

// Installs the shared ticket callback on a context (snapshot build time).
void use_shared_ticket_keys(SSL_CTX* ctx);
// Adds a new key and drops the oldest of the kept three (control thread, hourly).
void rotate_ticket_keys();

}  // namespace gatehouse::tls
