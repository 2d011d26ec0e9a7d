package dev.braid.internal.tls;

import dev.braid.BraidException;
import dev.braid.tooling.ThrowawayPki;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.RSAPrivateCrtKey;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** PEM loading: the key formats libvirt's and OpenSSL's tools write, and errors that name the file. */
class PemFilesTest {
    @TempDir
    Path dir;

    private static String pem(final String type, final byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, new byte[]{'\n'}).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    @Test
    void aChainAKeyAndCasMakeAContext() {
        final ThrowawayPki ca = ThrowawayPki.create(dir, "t");
        final ThrowawayPki.Identity id = ca.issue("server", List.of("localhost"), List.of());
        assertThat(PemFiles.certificates(id.certificate())).hasSize(2); // the certificate, then its CA
        assertThat(PemFiles.privateKey(id.key()).getAlgorithm()).isEqualTo("EC");
        assertThat(PemFiles.sslContext(id.certificate(), id.key(), ca.caCertificate()).getProtocol()).isEqualTo("TLS");
        assertThat(PemFiles.sslContext(null, null, ca.caCertificate())).isNotNull(); // a client without a certificate
    }

    /** PKCS#1 ("BEGIN RSA PRIVATE KEY"): the inner structure of an RSA PKCS#8 key, as OpenSSL's genrsa writes. */
    @Test
    void pkcs1RsaKeysLoad() throws Exception {
        final KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        final RSAPrivateCrtKey key = (RSAPrivateCrtKey) g.generateKeyPair().getPrivate();
        final byte[] pkcs8 = key.getEncoded();
        final byte[] pkcs1 = lastOctetString(pkcs8);
        final Path file = Files.writeString(dir.resolve("rsa.pem"), pem("RSA PRIVATE KEY", pkcs1));
        final PrivateKey loaded = PemFiles.privateKey(file);
        assertThat(loaded.getAlgorithm()).isEqualTo("RSA");
        assertThat(((RSAPrivateCrtKey) loaded).getPrivateExponent()).isEqualTo(key.getPrivateExponent());
    }

    /** SEC1 ("BEGIN EC PRIVATE KEY") with its curve named in [0], as OpenSSL's ecparam -genkey writes. */
    @Test
    void sec1EcKeysLoad() throws Exception {
        final KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new java.security.spec.ECGenParameterSpec("secp256r1"));
        final ECPrivateKey key = (ECPrivateKey) g.generateKeyPair().getPrivate();
        final byte[] d = unsigned(key.getS(), 32);
        final byte[] prime256v1 = {0x06, 0x08, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x03, 0x01, 0x07};
        final byte[] sec1 = tlv(0x30, concat(new byte[]{0x02, 0x01, 0x01}, tlv(0x04, d), tlv(0xa0, prime256v1)));
        final Path file = Files.writeString(dir.resolve("ec.pem"), pem("EC PRIVATE KEY", sec1));
        final PrivateKey loaded = PemFiles.privateKey(file);
        assertThat(loaded.getAlgorithm()).isEqualTo("EC");
        assertThat(((ECPrivateKey) loaded).getS()).isEqualTo(key.getS());
    }

    @Test
    void mistakesNameTheFileAndTheProblem() throws Exception {
        final Path encrypted = Files.writeString(dir.resolve("enc.pem"), pem("ENCRYPTED PRIVATE KEY", new byte[]{1, 2}));
        assertThatThrownBy(() -> PemFiles.privateKey(encrypted)).isInstanceOf(BraidException.class)
                .hasMessageContaining(encrypted.toString()).hasMessageContaining("is encrypted");
        final Path missing = dir.resolve("missing.pem");
        assertThatThrownBy(() -> PemFiles.certificates(missing)).isInstanceOf(BraidException.class)
                .hasMessageContaining("cannot read TLS file " + missing);
        final Path notPem = Files.writeString(dir.resolve("text.pem"), "hello");
        assertThatThrownBy(() -> PemFiles.certificates(notPem)).hasMessageContaining("holds no PEM block");
        final ThrowawayPki ca = ThrowawayPki.create(dir, "m");
        assertThatThrownBy(() -> PemFiles.privateKey(ca.caCertificate()))
                .hasMessageContaining("holds no PEM private key");
        assertThatThrownBy(() -> PemFiles.sslContext(ca.caCertificate(), null, null))
                .hasMessageContaining("needs its private key");
        assertThat(((BraidException) catchThrowable(() -> PemFiles.privateKey(encrypted))).category())
                .isEqualTo(BraidException.Category.CONFIG);
    }

    private static Throwable catchThrowable(final Runnable r) {
        try {
            r.run();
            return null;
        } catch (Throwable t) {
            return t;
        }
    }

    /** The content of the last OCTET STRING at the top level of a DER SEQUENCE (PKCS#8's privateKey). */
    private static byte[] lastOctetString(final byte[] der) {
        int p = headerLength(der, 0);
        byte[] last = null;
        while (p < der.length) {
            final int start = p + headerLength(der, p);
            final int end = start + contentLength(der, p);
            if (der[p] == 0x04) {
                last = Arrays.copyOfRange(der, start, end);
            }
            p = end;
        }
        return last;
    }

    private static int headerLength(final byte[] der, final int at) {
        final int first = der[at + 1] & 0xff;
        return first < 0x80 ? 2 : 2 + (first & 0x7f);
    }

    private static int contentLength(final byte[] der, final int at) {
        final int first = der[at + 1] & 0xff;
        if (first < 0x80) {
            return first;
        }
        int len = 0;
        for (int i = 0; i < (first & 0x7f); i++) {
            len = (len << 8) | (der[at + 2 + i] & 0xff);
        }
        return len;
    }

    private static byte[] unsigned(final BigInteger v, final int length) {
        final byte[] b = v.toByteArray();
        final byte[] out = new byte[length];
        final int n = Math.min(b.length, length);
        System.arraycopy(b, b.length - n, out, length - n, n);
        return out;
    }

    private static byte[] concat(final byte[]... parts) {
        final ByteArrayOutputStream o = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            o.writeBytes(p);
        }
        return o.toByteArray();
    }

    private static byte[] tlv(final int tag, final byte[] content) {
        final ByteArrayOutputStream o = new ByteArrayOutputStream();
        o.write(tag);
        if (content.length < 0x80) {
            o.write(content.length);
        } else {
            o.write(0x81);
            o.write(content.length);
        }
        o.writeBytes(content);
        return o.toByteArray();
    }
}
