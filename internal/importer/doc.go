// Package importer migrates existing users into grantd in bulk: it reads
// an NDJSON file whose every line is the body of a POST /v3/connect/custom
// (plus an optional external_id), checks each line, sends the good ones
// through grantd's normal create path with per-provider rate limits,
// bounded retries and backoff, and records one outcome per line in a
// resumable report. It also writes that format back (Export), so that an
// application's grants can be moved to another grantd.
//
// The per-line logic (Parse and its checks, duplicate detection, the
// outcome classes, the report format, resumption) does not depend on how
// a line reaches grantd: `grantd import` sends lines over HTTP
// (HTTPSender); a server-side import job can run the same Runner with a
// Sender that calls the grant service directly.
//
// Secrets from the input never leave it: Parse keeps them only in the
// request body it hands to the Sender, and no message, outcome or report
// record repeats a setting's value (the email address, taken from the
// settings of password providers or from grantd's answer, is no secret).
package importer
