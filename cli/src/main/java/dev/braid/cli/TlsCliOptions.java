package dev.braid.cli;

import dev.braid.BraidException;
import dev.braid.TlsOptions;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * {@code --tls-cert}, {@code --tls-key}, {@code --tls-ca} (and a client's {@code --tls-server-name}): a
 * picocli mixin shared by serve, get, put, ls and console. No option given: plaintext. The files are PEM,
 * libvirt's layout maps one to one (docs/security.md). {@code --tls-engine} picks whose engines
 * ({@link TlsEngine}, default auto).
 */
final class TlsCliOptions {
    @Option(names = "--tls-cert", paramLabel = "FILE", description = "This side's certificate chain (PEM, its own "
            + "certificate first). Serve: required for TLS. Clients: for mutual TLS.")
    Path cert;

    @Option(names = "--tls-key", paramLabel = "FILE", description = "The private key of --tls-cert (PEM, "
            + "unencrypted; protect it with the file's permissions).")
    Path key;

    @Option(names = "--tls-ca", paramLabel = "FILE", description = "Trusted CA certificates (PEM). Serve: client "
            + "certificates signed by them are REQUIRED (mutual TLS). Clients: the server must be signed by them "
            + "(default with other --tls options: the JDK's trust store).")
    Path ca;

    @Option(names = "--tls-server-name", paramLabel = "NAME", description = "Clients: the name the server's "
            + "certificate must carry, instead of the host connected to (needed with unix:PATH).")
    String serverName;

    @Option(names = "--tls-engine", paramLabel = "ENGINE", converter = EngineConverter.class,
            description = "Whose TLS engines: auto (the default: BoringSSL's where it loads, about twice the "
                    + "JDK's bytes per CPU; else the JDK's), jdk or openssl. Either side may use either. Like the "
                    + "other --tls options it turns TLS on.")
    TlsEngine engine;

    /** picocli: the word to a {@link TlsEngine}, with the words it takes in the error. */
    static final class EngineConverter implements CommandLine.ITypeConverter<TlsEngine> {
        @Override
        public TlsEngine convert(final String value) {
            final TlsEngine e = TlsEngine.parse(value);
            if (e == null) {
                throw new CommandLine.TypeConversionException("'" + value + "' is not a TLS engine: auto, jdk or openssl");
            }
            return e;
        }
    }

    /** Whether any TLS option was given. */
    boolean enabled() {
        return cert != null || key != null || ca != null || serverName != null || engine != null;
    }

    /** Whether client certificates will be required (serve with --tls-ca). */
    boolean requiresClientCertificates() {
        return ca != null;
    }

    /** A server's TLS options, or null for plaintext. */
    TlsOptions server(final CommandLine cmd) {
        if (!enabled()) {
            return null;
        }
        if (cert == null || key == null) {
            throw new CommandLine.ParameterException(cmd, "serving TLS needs --tls-cert and --tls-key"
                    + (ca != null ? " (--tls-ca alone only says which client certificates to accept)" : ""));
        }
        if (serverName != null) {
            throw new CommandLine.ParameterException(cmd, "--tls-server-name is a client option");
        }
        return load(cmd).clientAuth(ca != null ? TlsOptions.ClientAuth.REQUIRED : TlsOptions.ClientAuth.NONE);
    }

    /** A client's TLS options, or null for plaintext. */
    TlsOptions client(final CommandLine cmd) {
        if (!enabled()) {
            return null;
        }
        if ((cert == null) != (key == null)) {
            throw new CommandLine.ParameterException(cmd, "--tls-cert and --tls-key go together");
        }
        final TlsOptions o = load(cmd);
        return serverName == null ? o : o.serverName(serverName);
    }

    private TlsOptions load(final CommandLine cmd) {
        try {
            return (engine == null ? TlsEngine.AUTO : engine).fromPem(cert, key, ca);
        } catch (BraidException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        }
    }
}
