// Package oauthxtest holds the sandbox conformance suite every OAuth
// provider package runs (Suite), against grantd's sandbox
// (internal/sandbox). The helpers for errors are in
// internal/provider/providertest.
package oauthxtest
