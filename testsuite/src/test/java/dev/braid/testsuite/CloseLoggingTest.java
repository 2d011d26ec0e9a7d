package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.testing.Await;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.util.Arrays;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.LogRecord;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 11 §1.7: a connection closed for a protocol violation or an internal error is logged at WARNING, naming
 * the peer's address and the reason; an internal error with its stack trace, once. Before, a RuntimeException
 * that closed a connection (INTERNAL_ERROR) was logged by no backend: the connection vanished without a line.
 * The peer here is a raw socket, so the address the server logs is this socket's.
 */
class CloseLoggingTest extends TransportTest {
    private final LogCapture log = new LogCapture();

    @BeforeEach
    void captureLog() {
        log.start();
    }

    @AfterEach
    void releaseLog() {
        log.stop();
    }

    @Test
    void aConnectionClosedByAnInternalErrorIsLoggedOnceWithThePeerAndTheStackTrace() throws Exception {
        final IllegalStateException boom = new IllegalStateException("onConnection failed on purpose");
        final BraidServer server = server(s -> s.onConnection(c -> {
            throw boom; // a callback run on the I/O thread throws: the engine closes with INTERNAL_ERROR
        }));
        final int peerPort;
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), server.address().getPort())) {
            peerPort = s.getLocalPort();
            awaitClosedByServer(s);
        }
        final String peer = ":" + peerPort + "]";
        Await.until("the close is logged", () -> about(peer).stream().anyMatch(r -> causedBy(r.getThrown(), boom)));
        server.close(); // its connections are closed and logged by now: nothing more can come
        final List<LogRecord> logged = about(peer);
        assertThat(logged).as("one line for the close: " + messages(logged)).hasSize(1);
        final LogRecord r = logged.get(0);
        assertThat(r.getLevel()).isEqualTo(Level.WARNING);
        assertThat(r.getLoggerName()).isEqualTo("dev.braid.connection");
        assertThat(r.getMessage()).contains("127.0.0.1" + peer).contains("internal error")
                .contains("onConnection failed on purpose");
        assertThat(causedBy(r.getThrown(), boom)).as("the stack trace is the exception's").isTrue();
    }

    @Test
    void aConnectionClosedForAProtocolViolationIsLoggedOnceWithThePeerAndTheReason() throws Exception {
        final BraidServer server = server(s -> {
        });
        final int peerPort;
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), server.address().getPort())) {
            peerPort = s.getLocalPort();
            final byte[] header = new byte[28];
            Arrays.fill(header, (byte) 0xff); // announces a frame of 4 GiB: over maxMessageSize
            s.getOutputStream().write(header);
            awaitClosedByServer(s);
        }
        final String peer = ":" + peerPort + "]";
        Await.until("the close is logged", () -> !about(peer).isEmpty());
        server.close();
        final List<LogRecord> logged = about(peer);
        assertThat(logged).as("one line for the close: " + messages(logged)).hasSize(1);
        final LogRecord r = logged.get(0);
        assertThat(r.getLevel()).isEqualTo(Level.WARNING);
        assertThat(r.getLoggerName()).isEqualTo("dev.braid.peer");
        assertThat(r.getMessage()).contains("127.0.0.1" + peer).contains("protocol error")
                .contains("exceeds the limit maxMessageSize");
    }

    /** Reads until the server closes the socket (end of stream or a reset), at most a bounded wait. */
    private static void awaitClosedByServer(final Socket s) throws IOException {
        s.setSoTimeout(30_000);
        final InputStream in = s.getInputStream();
        try {
            while (in.read() >= 0) {
                // whatever the server sent before closing
            }
        } catch (java.net.SocketException e) {
            // reset: closed too
        }
    }

    private List<LogRecord> about(final String peer) {
        return log.containing(peer);
    }

    private static List<String> messages(final List<LogRecord> rs) {
        return rs.stream().map(LogRecord::getMessage).toList();
    }

    private static boolean causedBy(final Throwable t, final Throwable cause) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c == cause) {
                return true;
            }
        }
        return false;
    }
}
