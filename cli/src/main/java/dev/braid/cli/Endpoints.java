package dev.braid.cli;

import dev.braid.BraidException;
import dev.braid.RemoteException;
import picocli.CommandLine;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;

/** HOST:PORT parsing and the one-line form of errors for the file and console commands. Stateless. */
final class Endpoints {
    private Endpoints() {
    }

    /**
     * {@code HOST:PORT}, {@code [IPV6]:PORT}, {@code :PORT} (loopback) or {@code unix:PATH} (a Unix domain
     * socket).
     *
     * @throws CommandLine.ParameterException (exit code 2) when malformed
     */
    static SocketAddress parse(final CommandLine cmd, final String s, final int defaultPort) {
        if (s.startsWith(UNIX)) {
            final String path = s.substring(UNIX.length());
            if (path.isEmpty()) {
                throw new CommandLine.ParameterException(cmd, "'" + s + "' names no socket path (unix:/run/braid.sock)");
            }
            try {
                return UnixDomainSocketAddress.of(path);
            } catch (RuntimeException e) {
                throw new CommandLine.ParameterException(cmd, "'" + s + "' is not a socket path: " + e.getMessage());
            }
        }
        return parseTcp(cmd, s, defaultPort);
    }

    /** The prefix of a Unix domain socket endpoint. */
    static final String UNIX = "unix:";

    /** Whether only this machine can reach {@code a}: a loopback address or a Unix domain socket. */
    static boolean isLocal(final SocketAddress a) {
        if (a instanceof InetSocketAddress i) {
            return i.getAddress() != null && i.getAddress().isLoopbackAddress();
        }
        return a instanceof UnixDomainSocketAddress;
    }

    /** {@code a} as a user writes it: HOST:PORT or unix:PATH. */
    static String format(final SocketAddress a) {
        if (a instanceof InetSocketAddress i) {
            final String host = i.getAddress() == null ? i.getHostString() : i.getAddress().getHostAddress();
            return (host.contains(":") ? "[" + host + "]" : host) + ":" + i.getPort();
        }
        if (a instanceof UnixDomainSocketAddress u) {
            return UNIX + u.getPath();
        }
        return String.valueOf(a);
    }

    private static InetSocketAddress parseTcp(final CommandLine cmd, final String s, final int defaultPort) {
        final int colon = s.lastIndexOf(':');
        String host = colon < 0 ? s : s.substring(0, colon);
        final String portText = colon < 0 ? null : s.substring(colon + 1);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (host.isEmpty()) {
            host = "127.0.0.1";
        }
        final int port;
        try {
            port = portText == null ? defaultPort : Integer.parseInt(portText);
        } catch (NumberFormatException e) {
            throw new CommandLine.ParameterException(cmd, "'" + s + "' is not HOST:PORT (bad port '" + portText + "')");
        }
        if (port < 0 || port > 65535 || (port == 0 && defaultPort < 0)) {
            throw new CommandLine.ParameterException(cmd, "'" + s + "' is not HOST:PORT (port out of range)");
        }
        return new InetSocketAddress(host, port);
    }

    /** What a transfer's failure says in one line: the server's own message for its errors. */
    static String describe(final Throwable t) {
        if (t instanceof RemoteException r) {
            return "server: " + (r.remoteMessage() == null ? r.getMessage() : r.remoteMessage());
        }
        if (t instanceof BraidException || t.getMessage() != null) {
            return t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        }
        return t.toString();
    }

    /** A failure to report in one line (Main adds "braid: " and exits 1); keeps the cause for --verbose. */
    static RuntimeException failure(final String message, final Throwable cause) {
        return new CliFailure(message, cause);
    }

    static final class CliFailure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        CliFailure(final String message, final Throwable cause) {
            super(message, cause);
        }
    }
}
