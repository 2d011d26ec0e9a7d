package dev.braid.testsuite;

import dev.braid.BraidException;
import dev.braid.BraidObserver;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.CallTimeoutException;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.HandlerMode;
import dev.braid.IncomingCall;
import dev.braid.LimitExceededException;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.ProtocolException;
import dev.braid.StreamOptions;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;

import java.io.DataOutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The {@link BraidObserver} sees each connection, call and stream from start to end, in order, on both
 * sides, and the limit refusals, protocol errors and read suspensions, on every backend pairing.
 */
class ObserverTest extends TransportTest {
    static final Procedure ECHO = Procedure.of(0x5151, 1, 1);
    static final Procedure FAIL = Procedure.of(0x5151, 1, 2);
    static final Procedure SLOW = Procedure.of(0x5151, 1, 3);
    static final Procedure UPLOAD = Procedure.of(0x5151, 1, 10);
    static final Procedure TICK = Procedure.of(0x5151, 1, 20);
    static final int HEADER = FrameHeader.HEADER_LENGTH;

    /** Records every event as a line; checks each event names the connection it was given first. */
    static final class Recorder implements BraidObserver {
        private final List<String> events = new ArrayList<>();
        private volatile Peer connection;

        private synchronized void add(final Peer c, final String line) {
            if (connection == null) {
                connection = c;
            } else if (connection != c) {
                events.add("ANOTHER CONNECTION: " + line);
                return;
            }
            events.add(line);
        }

        synchronized List<String> events() {
            return List.copyOf(events);
        }

        synchronized int size() {
            return events.size();
        }

        void awaitSize(final int n) {
            Await.until(n + " observer events", () -> size() >= n, this::events);
        }

        @Override
        public void connectionOpened(final Peer c, final Side side) {
            add(c, "opened " + side);
        }

        @Override
        public void connectionClosed(final Peer c, final Side side, final ConnectionClosedException reason) {
            add(c, "closed " + side + " " + reason.reason());
        }

        @Override
        public void callStarted(final Peer c, final Side side, final Procedure p, final int serial) {
            add(c, "callStarted " + p);
        }

        @Override
        public void callEnded(final Peer c, final Side side, final Procedure p, final int serial,
                              final CallOutcome outcome, final long latencyNanos, final long requestBytes,
                              final long replyBytes) {
            add(c, "callEnded " + p + " " + outcome + " request " + requestBytes
                    + (outcome == CallOutcome.ERROR ? (replyBytes > HEADER ? " error reply" : " NO ERROR REPLY")
                    : " reply " + replyBytes) + (latencyNanos >= 0 ? "" : " NEGATIVE LATENCY"));
        }

        @Override
        public void streamOpened(final Peer c, final Side side, final Procedure p, final int serial) {
            add(c, "streamOpened " + p);
        }

        @Override
        public void streamEnded(final Peer c, final Side side, final Procedure p, final int serial,
                                final long bytesSent, final long bytesReceived, final long durationNanos,
                                final BraidException abortReason) {
            add(c, "streamEnded " + p + " sent " + bytesSent + " received " + bytesReceived
                    + (abortReason == null ? " clean" : " aborted") + (durationNanos >= 0 ? "" : " NEGATIVE DURATION"));
        }

        @Override
        public void limitRefused(final Peer c, final Side side, final String limit, final long value, final String detail) {
            add(c, "limitRefused " + side + " " + limit + " " + value);
        }

        @Override
        public void protocolError(final Peer c, final Side side, final ProtocolException error) {
            add(c, "protocolError " + side);
        }

        @Override
        public void readSuspended(final Peer c, final Side side, final Suspension reason) {
            add(c, "readSuspended " + side + " " + reason);
        }

        @Override
        public void readResumed(final Peer c, final Side side, final Suspension reason, final long suspendedNanos) {
            add(c, "readResumed " + side + " " + reason + (suspendedNanos >= 0 ? "" : " NEGATIVE"));
        }
    }

    private static long drain(final BraidStream s) {
        final ByteBuffer buf = ByteBuffer.allocate(8192);
        long total = 0;
        int n;
        while ((n = s.read(buf.clear())) >= 0) {
            total += n;
        }
        return total;
    }

    @Test
    void callsAndStreamsAreObservedInOrderOnBothSides() {
        final Recorder atServer = new Recorder();
        final Recorder atClient = new Recorder();
        final BraidServer server = server(config(true).observer(atServer), s -> s
                .handle(ECHO, call -> call.reply(call.args()))
                .handle(FAIL, call -> {
                    throw new IllegalStateException("refused by the test");
                })
                .stream(UPLOAD, (call, stream) -> {
                    call.reply(new byte[0]);
                    drain(stream);
                    stream.finish();
                }));
        final Connection c = connect(config(false).observer(atClient), server);
        atClient.awaitSize(1);
        atServer.awaitSize(1);

        c.call(ECHO, new byte[8]);
        atClient.awaitSize(3);
        atServer.awaitSize(3);

        assertThatThrownBy(() -> c.call(FAIL, new byte[4])).isInstanceOf(dev.braid.RemoteException.class);
        atClient.awaitSize(5);
        atServer.awaitSize(5);

        final BraidStream up = c.openStream(UPLOAD, ByteBuffer.allocate(0), StreamOptions.DEFAULT);
        atClient.awaitSize(8); // the opening call's end is reported on the reader, after openStream returned
        up.write(ByteBuffer.allocate(100_000));
        up.finish();
        atClient.awaitSize(9);
        atServer.awaitSize(9);

        final BraidStream dropped = c.openStream(UPLOAD, ByteBuffer.allocate(0), StreamOptions.DEFAULT);
        atClient.awaitSize(12);
        dropped.write(ByteBuffer.allocate(1000));
        dropped.abort("the test changed its mind");
        atClient.awaitSize(13);
        atServer.awaitSize(13);

        c.close();
        atClient.awaitSize(14);
        atServer.awaitSize(14);

        final String echo = "request " + (HEADER + 8) + " reply " + (HEADER + 8);
        assertThat(atClient.events()).containsExactly(
                "opened CLIENT",
                "callStarted " + ECHO, "callEnded " + ECHO + " OK " + echo,
                "callStarted " + FAIL, "callEnded " + FAIL + " ERROR request " + (HEADER + 4) + " error reply",
                "streamOpened " + UPLOAD, "callStarted " + UPLOAD, "callEnded " + UPLOAD + " OK request " + HEADER
                        + " reply " + HEADER,
                "streamEnded " + UPLOAD + " sent 100000 received 0 clean",
                "streamOpened " + UPLOAD, "callStarted " + UPLOAD, "callEnded " + UPLOAD + " OK request " + HEADER
                        + " reply " + HEADER,
                "streamEnded " + UPLOAD + " sent 1000 received 0 aborted",
                "closed CLIENT LOCAL_CLOSE");
        final List<String> s = atServer.events();
        assertThat(s.subList(0, 9)).containsExactly(
                "opened SERVER",
                "callStarted " + ECHO, "callEnded " + ECHO + " OK " + echo,
                "callStarted " + FAIL, "callEnded " + FAIL + " ERROR request " + (HEADER + 4) + " error reply",
                "streamOpened " + UPLOAD, "callStarted " + UPLOAD, "callEnded " + UPLOAD + " OK request " + HEADER
                        + " reply " + HEADER,
                "streamEnded " + UPLOAD + " sent 0 received 100000 clean");
        // The aborted stream: the server may have read none, some or all of its 1000 bytes when the abort came.
        assertThat(s.subList(9, 12)).containsExactly("streamOpened " + UPLOAD, "callStarted " + UPLOAD,
                "callEnded " + UPLOAD + " OK request " + HEADER + " reply " + HEADER);
        assertThat(s.get(12)).startsWith("streamEnded " + UPLOAD + " sent 0 received ").endsWith(" aborted");
        // The client's close reaches the server as an orderly end of stream, or as a reset when the client's
        // socket closed with bytes still unread (a backend's choice); the observer reports what the engine saw.
        assertThat(s.get(13)).isIn("closed SERVER PEER_CLOSED", "closed SERVER RESET");
    }

    @Test
    void timeoutsAndCancelsEndTheCallOnceEvenWhenTheReplyComesLater() throws Exception {
        final Recorder atClient = new Recorder();
        final BlockingQueue<IncomingCall> held = new LinkedBlockingQueue<>();
        final BraidServer server = server(s -> s.handle(SLOW, call -> {
            call.deferReply();
            held.add(call);
        }, HandlerMode.NON_BLOCKING));
        final Connection c = connect(config(false).observer(atClient), server);
        assertThatThrownBy(() -> c.call(SLOW, new byte[0], new CallOptions(Duration.ofMillis(50))))
                .isInstanceOf(CallTimeoutException.class);
        atClient.awaitSize(3);
        final var async = c.callAsync(SLOW, ByteBuffer.allocate(0), new CallOptions(Duration.ofMillis(50)));
        assertThatThrownBy(() -> async.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(CallTimeoutException.class);
        atClient.awaitSize(5);
        final var cancelled = c.callAsync(SLOW, ByteBuffer.allocate(0), CallOptions.DEFAULT);
        assertThat(held.poll(10, TimeUnit.SECONDS)).isNotNull();
        assertThat(held.poll(10, TimeUnit.SECONDS)).isNotNull();
        final IncomingCall third = held.poll(10, TimeUnit.SECONDS);
        cancelled.cancel(false);
        atClient.awaitSize(7);
        third.reply(new byte[0]); // a late reply: dropped and counted, not a second end
        Await.until("the late reply is counted", () -> c.stats().lateReplies() == 1, c::stats);
        assertThat(atClient.events()).containsExactly("opened CLIENT",
                "callStarted " + SLOW, "callEnded " + SLOW + " TIMEOUT request " + HEADER + " reply 0",
                "callStarted " + SLOW, "callEnded " + SLOW + " TIMEOUT request " + HEADER + " reply 0",
                "callStarted " + SLOW, "callEnded " + SLOW + " CANCELLED request " + HEADER + " reply 0");
    }

    @Test
    void limitRefusalsAreObserved() {
        final Recorder atClient = new Recorder();
        final BraidServer server = server(config(true).maxMessageSize(64 * 1024), s -> s.onEvent(TICK, e -> {
        }));
        final Connection c = connect(config(false).observer(atClient), server);
        assertThatThrownBy(() -> c.sendEvent(TICK, ByteBuffer.allocate(100_000))) // connect() waited for HELLO
                .isInstanceOf(LimitExceededException.class);
        atClient.awaitSize(2);
        assertThat(atClient.events()).containsExactly("opened CLIENT", "limitRefused CLIENT maxMessageSize " + 64 * 1024);
    }

    @Test
    void protocolErrorsAndReadSuspensionsAreObservedAtTheServer() throws Exception {
        final Recorder atServer = new Recorder();
        final BlockingQueue<IncomingCall> held = new LinkedBlockingQueue<>();
        // No keepalive: the raw client never answers a PING.
        final BraidServer server = server(config(true).observer(atServer).maxOutstandingCalls(1)
                .keepaliveInterval(Duration.ZERO), s -> s.handle(SLOW, call -> {
            call.deferReply();
            held.add(call);
        }, HandlerMode.NON_BLOCKING));
        try (Socket raw = new Socket(server.address().getAddress(), server.address().getPort())) {
            final DataOutputStream out = new DataOutputStream(raw.getOutputStream());
            // Two calls against a limit of one: the second is parked and reading stops until the first is answered.
            for (int serial = 1; serial <= 2; serial++) {
                out.write(ScriptedServer.frame(SLOW.program(), 1, SLOW.procedure(), FrameHeader.TYPE_CALL, serial,
                        FrameHeader.STATUS_OK, new byte[0]).array());
            }
            out.flush();
            final IncomingCall first = held.poll(10, TimeUnit.SECONDS);
            atServer.awaitSize(4);
            first.reply(new byte[0]);
            held.poll(10, TimeUnit.SECONDS).reply(new byte[0]);
            atServer.awaitSize(7);
            // Then a frame that declares a length below the header's: a protocol error closes the connection.
            out.writeInt(3);
            out.write(new byte[HEADER - 4]);
            out.flush();
            atServer.awaitSize(9);
        }
        assertThat(atServer.events()).containsExactly("opened SERVER",
                "callStarted " + SLOW, "callStarted " + SLOW, "readSuspended SERVER CALL_LIMIT",
                "callEnded " + SLOW + " OK request " + HEADER + " reply " + HEADER, "readResumed SERVER CALL_LIMIT",
                "callEnded " + SLOW + " OK request " + HEADER + " reply " + HEADER,
                "protocolError SERVER", "closed SERVER PROTOCOL_ERROR");
    }
}
