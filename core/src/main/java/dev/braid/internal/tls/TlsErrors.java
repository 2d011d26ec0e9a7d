package dev.braid.internal.tls;

import javax.net.ssl.SSLException;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;

/**
 * Turns the JDK's TLS exceptions into messages that say what went wrong in a user's terms: which
 * certificate check failed (untrusted, expired, wrong host, missing client certificate), what the peer's
 * alert means, or that the peer does not speak TLS at all. Stateless; any thread.
 */
final class TlsErrors {
    private static final String ALERT = "Received fatal alert: ";
    /** An alert received, as BoringSSL names it in its error strings. */
    private static final java.util.regex.Pattern BORINGSSL_ALERT =
            java.util.regex.Pattern.compile("(?:SSLV3|TLSV1)_ALERT_([A-Z_]+)");
    private TlsErrors() {
    }

    /** What {@code e}, thrown during or after the handshake with {@code peer}, means. */
    static String explain(final SSLException e, final boolean client) {
        final String own = client ? "the server's" : "the client's";
        for (Throwable t = e; t != null; t = t.getCause()) { // the most precise cause first: the dates
            if (t instanceof CertificateExpiredException) {
                return own + " certificate has expired (" + t.getMessage() + ")";
            }
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof CertificateExpiredException) {
                return own + " certificate has expired (" + t.getMessage() + ")";
            }
            if (t instanceof CertificateNotYetValidException) {
                return own + " certificate is not yet valid (" + t.getMessage() + ")";
            }
            if (t instanceof CertPathBuilderException) {
                return own + " certificate is not trusted: no chain to a trusted CA (" + t.getMessage() + ")";
            }
            if (t instanceof CertPathValidatorException v) {
                if (v.getReason() == CertPathValidatorException.BasicReason.EXPIRED) {
                    return own + " certificate has expired (" + v.getMessage() + ")";
                }
                return own + " certificate failed validation: " + v.getMessage();
            }
            final String m = t.getMessage();
            if (m == null) {
                continue;
            }
            if (m.startsWith("No subject alternative") || m.startsWith("No name matching")) {
                return own + " certificate does not match the host name (" + m + ")";
            }
            if (m.contains("Empty client certificate chain") || m.contains("Empty certificate chain")) {
                return "the client presented no certificate and this server requires one (mutual TLS)";
            }
            if (m.contains("Unsupported or unrecognized SSL message") || m.contains("plaintext connection")) {
                return "the peer does not speak TLS (plaintext arrived where a TLS record was expected)";
            }
            if (m.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE")) { // BoringSSL's words for the same
                return "the client presented no certificate and this server requires one (mutual TLS)";
            }
            final int at = m.indexOf(ALERT);
            if (at >= 0) {
                final String alert = m.substring(at + ALERT.length()).trim();
                return "the peer refused the TLS session (alert " + alert + ": " + alertMeaning(alert, client) + ")";
            }
            final java.util.regex.Matcher boring = BORINGSSL_ALERT.matcher(m);
            if (boring.find()) { // BoringSSL (braid-tls-openssl): "...:SSLV3_ALERT_CERTIFICATE_EXPIRED"
                final String alert = boring.group(1).toLowerCase(java.util.Locale.ROOT);
                return "the peer refused the TLS session (alert " + alert + ": " + alertMeaning(alert, client) + ")";
            }
        }
        return "TLS error: " + e.getMessage();
    }

    private static String alertMeaning(final String alert, final boolean client) {
        return switch (alert) {
            case "certificate_required" -> "it requires a client certificate and this side presented none";
            case "bad_certificate", "certificate_unknown" -> "it did not accept this side's certificate "
                    + "(not signed by a CA it trusts, or not valid for this use)";
            case "unknown_ca" -> "it does not trust the CA that signed this side's certificate";
            case "certificate_expired" -> "it says this side's certificate has expired";
            case "handshake_failure" -> client ? "no protocol or cipher suite in common, or it requires a client "
                    + "certificate" : "no protocol or cipher suite in common";
            case "protocol_version" -> "no TLS version in common";
            case "unexpected_message" -> "it received a message it did not expect";
            case "decrypt_error", "bad_record_mac" -> "a record failed to decrypt";
            case "internal_error" -> "it failed the handshake itself; a BoringSSL or OpenSSL peer also answers so "
                    + "when it did not accept this side's certificate (not trusted, or not for this host)";
            default -> "see the peer's log";
        };
    }
}
