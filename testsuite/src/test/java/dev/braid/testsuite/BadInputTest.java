package dev.braid.testsuite;

import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.CallTimeoutException;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.ConnectionClosedException.Reason;
import dev.braid.HandlerMode;
import dev.braid.IncomingCall;
import dev.braid.NegotiatedLimits;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.ProtocolException;
import dev.braid.RemoteError;
import dev.braid.RemoteException;
import dev.braid.Reply;
import dev.braid.internal.wire.Extension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

import static dev.braid.internal.wire.Extension.KEEPALIVE_PING;
import static dev.braid.internal.wire.Extension.KEEPALIVE_PONG;
import static dev.braid.internal.wire.Extension.KEEPALIVE_PROGRAM;
import static dev.braid.internal.wire.Extension.PROC_CREDIT;
import static dev.braid.internal.wire.Extension.PROC_DRAIN;
import static dev.braid.internal.wire.Extension.PROC_HELLO;
import static dev.braid.internal.wire.Extension.PROC_RELEASE;
import static dev.braid.internal.wire.Extension.PROC_PING;
import static dev.braid.internal.wire.Extension.PROC_WINDOW;
import static dev.braid.internal.wire.FrameHeader.STATUS_CONTINUE;
import static dev.braid.internal.wire.FrameHeader.STATUS_ERROR;
import static dev.braid.internal.wire.FrameHeader.STATUS_OK;
import static dev.braid.internal.wire.FrameHeader.TYPE_CALL;
import static dev.braid.internal.wire.FrameHeader.TYPE_CALL_WITH_FDS;
import static dev.braid.internal.wire.FrameHeader.TYPE_MESSAGE;
import static dev.braid.internal.wire.FrameHeader.TYPE_REPLY;
import static dev.braid.internal.wire.FrameHeader.TYPE_REPLY_WITH_FDS;
import static dev.braid.internal.wire.FrameHeader.TYPE_STREAM;
import static dev.braid.internal.wire.FrameHeader.TYPE_STREAM_HOLE;
import static dev.braid.testsuite.RawPeer.WAIT_MILLIS;
import static dev.braid.testsuite.RawPeer.concat;
import static dev.braid.testsuite.RawPeer.frame;
import static dev.braid.testsuite.RawPeer.header;
import static dev.braid.testsuite.RawPeer.hello;
import static dev.braid.testsuite.RawPeer.words;
import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Every row of the table "Bad input and what braid does" in docs/protocol.md: the bad input goes over a raw
 * socket ({@link RawPeer}) and the test checks the documented outcome.
 *
 * <ul>
 *   <li>Against a braid server, RawPeer is the client. The test checks what the raw client sees (an ERROR
 *       reply, decoded; or the connection closed) and why the server's side of the connection closed
 *       (its {@link Peer#closeFuture()}).</li>
 *   <li>Against a braid client, RawPeer is a fake server: it answers the client's HELLO correctly, then
 *       misbehaves. The test checks how the client's pending calls fail and that the client closes.</li>
 * </ul>
 *
 * Keepalive is off (interval 0) except in the keepalive tests, so that nothing arrives unasked. Waits are
 * bounded ({@link RawPeer#WAIT_MILLIS}) and reached only on failure; {@link TransportTest} checks after each
 * test that no pooled buffer leaked.
 */
class BadInputTest extends TransportTest {
    static final Procedure ECHO = Procedure.of(0x1234, 1, 1);
    static final int BRID = Extension.PROGRAM;
    /** maxMessageSize of the servers in the length tests. */
    static final int SMALL_MAX = 4096;
    static final byte[] PING = frame(KEEPALIVE_PROGRAM, 1, KEEPALIVE_PING, TYPE_MESSAGE, 0, STATUS_OK);
    static final byte[] PONG = frame(KEEPALIVE_PROGRAM, 1, KEEPALIVE_PONG, TYPE_MESSAGE, 0, STATUS_OK);

    /** The server's side of each raw connection, in order of arrival. */
    private final BlockingQueue<Peer> serverPeers = new LinkedBlockingQueue<>();

    /** One bad input and the text braid reports for it (a parameterised case; shown by its name). */
    record Bad(String name, byte[] bytes, String expected) {
        @Override
        public String toString() {
            return name;
        }
    }

    // ================================================================== against a braid server

    static Stream<Bad> serverHeaderViolations() {
        return Stream.of(
                new Bad("length 0", header(0, 0x1234, 1, 1, TYPE_CALL, 1, STATUS_OK),
                        "frame length 0 is below the minimum of 28 bytes"),
                new Bad("length 27", header(27, 0x1234, 1, 1, TYPE_CALL, 1, STATUS_OK),
                        "frame length 27 is below the minimum of 28 bytes"),
                new Bad("length word alone, below 28", words(12),
                        "frame length 12 is below the minimum of 28 bytes"),
                new Bad("length maxMessageSize + 1", header(SMALL_MAX + 1, 0x1234, 1, 1, TYPE_CALL, 1, STATUS_OK),
                        "frame length 4097 exceeds the limit maxMessageSize = 4096 bytes"),
                new Bad("length word alone, 2^31 - 1", words(Integer.MAX_VALUE),
                        "frame length 2147483647 exceeds the limit maxMessageSize = 4096 bytes"),
                new Bad("length 2^32 - 1", header(-1, 0x1234, 1, 1, TYPE_CALL, 1, STATUS_OK),
                        "frame length 4294967295 exceeds the limit maxMessageSize = 4096 bytes"),
                new Bad("HTTP request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII),
                        "frame length 1195725856 exceeds the limit maxMessageSize = 4096 bytes"),
                new Bad("CALL_WITH_FDS", header(28, 0x1234, 1, 1, TYPE_CALL_WITH_FDS, 1, STATUS_OK),
                        "CALL_WITH_FDS (file descriptor passing) is not supported by braid: "
                                + "CALL_WITH_FDS/OK prog 0x1234 vers 1 proc 1 serial 1"),
                new Bad("CALL_WITH_FDS, header only of a 1000-byte frame",
                        header(1000, 0x1234, 1, 1, TYPE_CALL_WITH_FDS, 1, STATUS_OK),
                        "CALL_WITH_FDS (file descriptor passing) is not supported by braid: "
                                + "CALL_WITH_FDS/OK prog 0x1234 vers 1 proc 1 serial 1"),
                new Bad("REPLY_WITH_FDS", header(28, 0x1234, 1, 1, TYPE_REPLY_WITH_FDS, 1, STATUS_OK),
                        "REPLY_WITH_FDS (file descriptor passing) is not supported by braid: "
                                + "REPLY_WITH_FDS/OK prog 0x1234 vers 1 proc 1 serial 1"),
                new Bad("type 7", header(28, 0x1234, 1, 1, 7, 1, STATUS_OK),
                        "unknown message type 7 in frame of 28 bytes"),
                new Bad("type -1", header(32, 0x1234, 1, 1, -1, 1, STATUS_OK),
                        "unknown message type -1 in frame of 32 bytes"),
                new Bad("status 3", header(28, 0x1234, 1, 1, TYPE_CALL, 1, 3),
                        "unknown message status 3: CALL/status 3 prog 0x1234 vers 1 proc 1 serial 1"),
                new Bad("CALL with status ERROR", header(28, 0x1234, 1, 1, TYPE_CALL, 1, STATUS_ERROR),
                        "CALL must have status OK: CALL/ERROR prog 0x1234 vers 1 proc 1 serial 1"),
                new Bad("CALL with status CONTINUE", header(28, 0x1234, 1, 1, TYPE_CALL, 1, STATUS_CONTINUE),
                        "CALL must have status OK: CALL/CONTINUE prog 0x1234 vers 1 proc 1 serial 1"),
                new Bad("REPLY with status CONTINUE", header(28, 0x1234, 1, 1, TYPE_REPLY, 1, STATUS_CONTINUE),
                        "REPLY cannot have status CONTINUE: REPLY/CONTINUE prog 0x1234 vers 1 proc 1 serial 1"),
                new Bad("MESSAGE with status ERROR", header(28, 0x1234, 1, 1, TYPE_MESSAGE, 0, STATUS_ERROR),
                        "MESSAGE must have status OK: MESSAGE/ERROR prog 0x1234 vers 1 proc 1 serial 0"),
                new Bad("STREAM_HOLE with status OK",
                        frame(0x1234, 1, 1, TYPE_STREAM_HOLE, 1, STATUS_OK, new byte[12]),
                        "STREAM_HOLE must have status CONTINUE: STREAM_HOLE/OK prog 0x1234 vers 1 proc 1 serial 1"),
                new Bad("STREAM_HOLE with an 8-byte payload",
                        frame(0x1234, 1, 1, TYPE_STREAM_HOLE, 1, STATUS_CONTINUE, new byte[8]),
                        "STREAM_HOLE payload must be 12 bytes ({hyper length; unsigned flags}), got 8"),
                new Bad("STREAM_HOLE with a 16-byte payload",
                        frame(0x1234, 1, 1, TYPE_STREAM_HOLE, 1, STATUS_CONTINUE, new byte[16]),
                        "STREAM_HOLE payload must be 12 bytes ({hyper length; unsigned flags}), got 16"),
                new Bad("REPLY sent to a server", frame(0x1234, 1, 1, TYPE_REPLY, 1, STATUS_OK),
                        "a client sent a REPLY to a server: REPLY/OK prog 0x1234 vers 1 proc 1 serial 1"),
                new Bad("ERROR REPLY sent to a server",
                        frame(0x1234, 1, 1, TYPE_REPLY, 1, STATUS_ERROR, RawPeer.remoteError(
                                RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC, "x"))),
                        "a client sent a REPLY to a server: REPLY/ERROR prog 0x1234 vers 1 proc 1 serial 1"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("serverHeaderViolations")
    void serverClosesTheConnectionOnABadFrame(final Bad bad) throws Exception {
        final BraidServer server = target(serverConfig().maxMessageSize(SMALL_MAX));
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(bad.bytes());
        assertThat(raw.readUntilClosed()).as("bytes the server sent before closing").isEmpty();
        assertClosed(peer, Reason.PROTOCOL_ERROR, "protocol error: " + bad.expected());
    }

    @Test
    void serverKeepsWhatItDidBeforeTheBadFrameAndIgnoresWhatFollowsIt() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(echoCall(1, "a"));
        assertThat(raw.readFrame().toString()).isEqualTo("REPLY/OK prog 0x1234 vers 1 proc 1 serial 1 payload 1 bytes");
        raw.send(header(28, 0x1234, 1, 1, 9, 2, STATUS_OK), echoCall(3, "never"), PING);
        assertThat(raw.readUntilClosed()).as("nothing after the bad frame").isEmpty();
        assertClosed(peer, Reason.PROTOCOL_ERROR, "protocol error: unknown message type 9 in frame of 28 bytes");
        assertThat(peer.stats().callsServed()).isEqualTo(1);
    }

    @Test
    void serverAcceptsAFrameOfExactlyMaxMessageSize() throws Exception {
        final BraidServer server = target(serverConfig().maxMessageSize(SMALL_MAX));
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        // A PING's payload is ignored: pad one to the limit exactly.
        raw.send(frame(KEEPALIVE_PROGRAM, 1, KEEPALIVE_PING, TYPE_MESSAGE, 0, STATUS_OK, new byte[SMALL_MAX - 28]));
        assertThat(raw.readFrame().isKeepalive(KEEPALIVE_PONG)).isTrue();
        assertThat(peer.isOpen()).isTrue();
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void serverClosesTheConnectionOnRandomGarbage(final long seed) throws Exception {
        final BraidServer server = target(serverConfig().maxMessageSize(SMALL_MAX));
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        final byte[] garbage = new byte[1000];
        new Random(seed).nextBytes(garbage);
        raw.send(garbage);
        assertThat(raw.readUntilClosed()).isEmpty();
        final ConnectionClosedException why = closeReason(peer);
        assertThat(why.reason()).isEqualTo(Reason.PROTOCOL_ERROR);
        assertThat(why.getMessage()).startsWith("protocol error: frame length ");
    }

    static Stream<Bad> truncatedFrames() {
        return Stream.of(
                new Bad("3 bytes of a length word", new byte[]{0, 0, 0}, "3"),
                new Bad("header and 10 of 72 payload bytes",
                        concat(header(100, 0x1234, 1, 1, TYPE_CALL, 1, STATUS_OK), new byte[10]), "38"),
                new Bad("header and 5000 of 99972 payload bytes (frame read into its own buffer)",
                        concat(header(100_000, 0x1234, 1, 1, TYPE_CALL, 1, STATUS_OK), new byte[5000]), "5028"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("truncatedFrames")
    void serverClosesWhenTheClientClosesMidFrame(final Bad cut) throws Exception {
        final BraidServer server = target(serverConfig().maxMessageSize(1 << 20).readBufferSize(4096));
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(cut.bytes());
        raw.shutdownOutput();
        assertThat(raw.readUntilClosed()).isEmpty();
        assertClosed(peer, Reason.PEER_CLOSED,
                "peer closed the connection: in the middle of a frame (" + cut.expected() + " bytes of it received)");
        assertThat(peer.stats().callsServed()).isZero();
    }

    @Test
    void serverClosesWhenTheClientClosesBetweenFrames() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(echoCall(1, "a"));
        assertThat(raw.readFrame().serial()).isEqualTo(1);
        raw.shutdownOutput();
        assertThat(raw.readUntilClosed()).isEmpty();
        final ConnectionClosedException why = closeReason(peer);
        assertThat(why.reason()).isEqualTo(Reason.PEER_CLOSED);
        assertThat(why.getMessage()).startsWith("peer closed the connection: ").doesNotContain("middle");
    }

    @Test
    void serverAnswersHelloWithItsLimits() throws Exception {
        final BraidServer server = target(serverConfig().maxOutstandingCalls(7));
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(frame(BRID, 1, PROC_HELLO, TYPE_CALL, 42, STATUS_OK, hello(5, 0xff, 1 << 20, 3, 2, 1 << 19)));
        final RawPeer.Frame reply = raw.readFrame();
        assertThat(reply.toString()).isEqualTo("REPLY/OK prog 0x62726964 vers 1 proc 1 serial 42 payload 24 bytes");
        // version: the server's own; features: the server's AND the client's; max_message: the smaller; the
        // rest: the server's configuration.
        assertThat(reply.hello()).isEqualTo(
                new Extension.Hello(1, Extension.SUPPORTED_FEATURES & 0xff, 1 << 20, 7, 64,
                        BraidConfig.DEFAULT_STREAM_WINDOW));
        // A second HELLO is refused: the limits negotiated first stay in force.
        raw.send(frame(BRID, 1, PROC_HELLO, TYPE_CALL, 43, STATUS_OK, hello(1, 0, 1 << 16, 3, 2, 1 << 19)));
        final RawPeer.Frame again = raw.readFrame();
        assertThat(again.toString()).startsWith("REPLY/ERROR prog 0x62726964 vers 1 proc 1 serial 43 ");
        assertThat(again.remoteError()).isEqualTo(RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC,
                "HELLO was already exchanged on this connection"));
        assertThat(peer.stats().extensionsNegotiated()).isTrue();
    }

    static Stream<Bad> malformedHellos() {
        return Stream.of(
                new Bad("20 bytes", new byte[20], "malformed HELLO: 20 bytes, expected 24"),
                new Bad("28 bytes", new byte[28], "malformed HELLO: 28 bytes, expected 24"),
                new Bad("empty", new byte[0], "malformed HELLO: 0 bytes, expected 24"),
                new Bad("version 0", hello(0, 0, 1 << 20, 8, 8, 1 << 20), "malformed HELLO: version 0"),
                new Bad("max_message 283", hello(1, 0, 283, 8, 8, 1 << 20),
                        "malformed HELLO: out-of-range limits Hello[version=1, features=0, maxMessage=283, "
                                + "maxOutstanding=8, maxStreams=8, initialWindow=1048576]"),
                new Bad("max_outstanding 0", hello(1, 0, 1 << 20, 0, 8, 1 << 20),
                        "malformed HELLO: out-of-range limits Hello[version=1, features=0, maxMessage=1048576, "
                                + "maxOutstanding=0, maxStreams=8, initialWindow=1048576]"),
                new Bad("max_streams 2^31", hello(1, 0, 1 << 20, 8, Integer.MIN_VALUE, 1 << 20),
                        "malformed HELLO: out-of-range limits Hello[version=1, features=0, maxMessage=1048576, "
                                + "maxOutstanding=8, maxStreams=-2147483648, initialWindow=1048576]"),
                new Bad("initial_window 0", hello(1, 0, 1 << 20, 8, 8, 0),
                        "malformed HELLO: out-of-range limits Hello[version=1, features=0, maxMessage=1048576, "
                                + "maxOutstanding=8, maxStreams=8, initialWindow=0]"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedHellos")
    void serverAnswersAMalformedHelloWithAnErrorAndStaysOpen(final Bad bad) throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(frame(BRID, 1, PROC_HELLO, TYPE_CALL, 1, STATUS_OK, bad.bytes()));
        final RawPeer.Frame reply = raw.readFrame();
        assertThat(reply.toString()).startsWith("REPLY/ERROR prog 0x62726964 vers 1 proc 1 serial 1 ");
        assertThat(reply.remoteError()).isEqualTo(
                RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC, bad.expected()));
        assertThat(peer.stats().extensionsNegotiated()).isFalse();
        // Still open, and a good HELLO afterwards is answered.
        raw.send(frame(BRID, 1, PROC_HELLO, TYPE_CALL, 2, STATUS_OK, hello(1, 0, 1 << 20, 8, 8, 1 << 20)));
        final RawPeer.Frame ok = raw.readFrame();
        assertThat(ok.toString()).isEqualTo("REPLY/OK prog 0x62726964 vers 1 proc 1 serial 2 payload 24 bytes");
        assertThat(peer.isOpen()).isTrue();
        assertThat(peer.stats().extensionsNegotiated()).isTrue();
    }

    @Test
    void serverRefusesUnknownExtensionProceduresAndStaysOpen() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(frame(BRID, 1, PROC_CREDIT, TYPE_CALL, 1, STATUS_OK),
                frame(BRID, 1, PROC_DRAIN, TYPE_CALL, 2, STATUS_OK),
                frame(BRID, 1, 9, TYPE_CALL, 3, STATUS_OK),
                frame(BRID, 2, PROC_HELLO, TYPE_CALL, 4, STATUS_OK, hello(1, 0, 1 << 20, 8, 8, 1 << 20)));
        final String[] expected = {
                "unknown braid extension procedure 2 (only HELLO, 1, is a call)",
                "unknown braid extension procedure 3 (only HELLO, 1, is a call)",
                "unknown braid extension procedure 9 (only HELLO, 1, is a call)",
                "unknown version 2 of braid's extension program 0x62726964 (versions served: [1])"};
        final int[] codes = {RemoteError.VIR_ERR_NO_SUPPORT, RemoteError.VIR_ERR_NO_SUPPORT,
                RemoteError.VIR_ERR_NO_SUPPORT, RemoteError.VIR_ERR_RPC};
        final int[][] addresses = {{1, 2}, {1, 3}, {1, 9}, {2, 1}};
        for (int i = 0; i < expected.length; i++) {
            final RawPeer.Frame reply = raw.readFrame();
            assertThat(reply.toString()).startsWith("REPLY/ERROR prog 0x62726964 vers " + addresses[i][0]
                    + " proc " + addresses[i][1] + " serial " + (i + 1) + " ");
            assertThat(reply.remoteError()).isEqualTo(RemoteError.of(codes[i], RemoteError.VIR_FROM_RPC, expected[i]));
        }
        pingPong(raw);
        assertThat(peer.isOpen()).isTrue();
    }

    @Test
    void serverAnswersCallsToUnknownProceduresWithAnErrorNamingThem() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(frame(0x4321, 1, 1, TYPE_CALL, 1, STATUS_OK, words(7)),
                frame(0x1234, 9, 1, TYPE_CALL, 2, STATUS_OK),
                frame(0x1234, 1, 99, TYPE_CALL, 3, STATUS_OK));
        final RawPeer.Frame program = raw.readFrame();
        assertThat(program.toString()).startsWith("REPLY/ERROR prog 0x4321 vers 1 proc 1 serial 1 ");
        assertThat(program.remoteError()).isEqualTo(RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC,
                "unknown program 0x4321 (this server serves 0x1234)"));
        final RawPeer.Frame version = raw.readFrame();
        assertThat(version.toString()).startsWith("REPLY/ERROR prog 0x1234 vers 9 proc 1 serial 2 ");
        assertThat(version.remoteError()).isEqualTo(RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC,
                "unknown version 9 of program 0x1234 (versions served: [1])"));
        final RawPeer.Frame procedure = raw.readFrame();
        assertThat(procedure.toString()).startsWith("REPLY/ERROR prog 0x1234 vers 1 proc 99 serial 3 ");
        assertThat(procedure.remoteError()).isEqualTo(RemoteError.of(RemoteError.VIR_ERR_NO_SUPPORT,
                RemoteError.VIR_FROM_RPC, "unknown procedure 99 in program 0x1234 version 1"));
        raw.send(echoCall(4, "still here"));
        final RawPeer.Frame echo = raw.readFrame();
        assertThat(echo.serial()).isEqualTo(4);
        assertThat(new String(echo.payload(), StandardCharsets.UTF_8)).isEqualTo("still here");
        assertThat(peer.isOpen()).isTrue();
    }

    @Test
    void serverWithoutExtensionsRefusesHelloAsAnUnknownProgram() throws Exception {
        final BraidServer server = target(serverConfig().extensions(false));
        final RawPeer raw = rawClient(server);
        acceptedPeer();
        raw.send(frame(BRID, 1, PROC_HELLO, TYPE_CALL, 1, STATUS_OK, hello(1, 0, 1 << 20, 8, 8, 1 << 20)));
        final RawPeer.Frame reply = raw.readFrame();
        assertThat(reply.toString()).startsWith("REPLY/ERROR prog 0x62726964 vers 1 proc 1 serial 1 ");
        assertThat(reply.remoteError()).isEqualTo(RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC,
                "unknown program 0x62726964 (this server serves 0x1234)"));
    }

    @Test
    void serverServesCallsWhateverTheirSerial() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        acceptedPeer();
        raw.send(echoCall(0, "zero"), echoCall(7, "first 7"), echoCall(7, "second 7"), echoCall(-1, "2^32-1"));
        final List<String> got = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            final RawPeer.Frame f = raw.readFrame();
            got.add(Integer.toUnsignedString(f.serial()) + " " + new String(f.payload(), StandardCharsets.UTF_8));
        }
        assertThat(got).containsExactly("0 zero", "7 first 7", "7 second 7", "4294967295 2^32-1");
    }

    @Test
    void serverDropsAndCountsStreamPacketsForNoOpenStream() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(frame(0x1234, 1, 1, TYPE_STREAM, 1, STATUS_CONTINUE, new byte[100]),
                frame(0x1234, 1, 1, TYPE_STREAM, 1, STATUS_CONTINUE),
                frame(0x1234, 1, 1, TYPE_STREAM, 1, STATUS_OK),
                frame(0x1234, 1, 1, TYPE_STREAM, 1, STATUS_ERROR),
                frame(0x1234, 1, 1, TYPE_STREAM_HOLE, 1, STATUS_CONTINUE, new byte[12]));
        pingPong(raw);
        assertThat(peer.stats().framesDropped()).isEqualTo(5);
        assertThat(peer.isOpen()).isTrue();
    }

    @Test
    void serverDropsAndCountsEventsNobodyListensTo() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(frame(0x1234, 1, 5, TYPE_MESSAGE, 0, STATUS_OK, words(1, 2)),
                frame(0x4321, 2, 1, TYPE_MESSAGE, 0, STATUS_OK));
        pingPong(raw);
        assertThat(peer.stats().eventsDropped()).isEqualTo(2);
        assertThat(peer.isOpen()).isTrue();
    }

    @Test
    void serverDropsAndCountsBraidProgramMessagesItDoesNotUse() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        // Before HELLO nothing is negotiated: CREDIT is not even checked for its length.
        raw.send(frame(BRID, 1, PROC_CREDIT, TYPE_MESSAGE, 0, STATUS_OK, words(1, 2, 3)),
                frame(BRID, 1, PROC_DRAIN, TYPE_MESSAGE, 0, STATUS_OK));
        pingPong(raw);
        assertThat(peer.stats().framesDropped()).isEqualTo(2);
        negotiate(raw, Extension.SUPPORTED_FEATURES & ~Extension.FEATURE_DRAIN); // DRAIN not in use: dropped
        raw.send(frame(BRID, 1, PROC_CREDIT, TYPE_MESSAGE, 0, STATUS_OK, words(99, 5)), // no such stream: counted
                frame(BRID, 1, PROC_RELEASE, TYPE_MESSAGE, 0, STATUS_OK, words(99)), // only a server sends it
                frame(BRID, 1, PROC_DRAIN, TYPE_MESSAGE, 0, STATUS_OK),
                frame(BRID, 1, 9, TYPE_MESSAGE, 0, STATUS_OK),
                frame(BRID, 2, PROC_CREDIT, TYPE_MESSAGE, 0, STATUS_OK, words(99, 5))); // version 2: an event
        pingPong(raw);
        assertThat(peer.stats().framesDropped()).isEqualTo(2 + 4);
        assertThat(peer.stats().eventsDropped()).isEqualTo(1);
        assertThat(peer.isOpen()).isTrue();
    }

    @Test
    void serverClosesOnAMalformedCredit() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        negotiate(raw, Extension.FEATURE_FLOW_CONTROL);
        raw.send(frame(BRID, 1, PROC_CREDIT, TYPE_MESSAGE, 0, STATUS_OK, words(2, 100, 0)));
        assertThat(raw.readUntilClosed()).isEmpty();
        assertClosed(peer, Reason.PROTOCOL_ERROR, "protocol error: malformed CREDIT: 12 bytes, expected 8");
    }

    /** Issue 14 §1: DRAIN (negotiated) must be exactly its 4 bytes. */
    @Test
    void serverClosesOnAMalformedDrain() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        negotiate(raw, Extension.FEATURE_DRAIN);
        raw.send(frame(BRID, 1, PROC_DRAIN, TYPE_MESSAGE, 0, STATUS_OK, words(2, 100)));
        assertThat(raw.readUntilClosed()).isEmpty();
        assertClosed(peer, Reason.PROTOCOL_ERROR, "protocol error: malformed DRAIN: 8 bytes, expected 4");
    }

    /** Issue 14 §1: a well-formed DRAIN from a client is accepted (it sends no more calls); the connection stays open. */
    @Test
    void serverAcceptsAClientsDrainAndStaysOpen() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        negotiate(raw, Extension.FEATURE_DRAIN);
        raw.send(frame(BRID, 1, PROC_DRAIN, TYPE_MESSAGE, 0, STATUS_OK, words(1)));
        pingPong(raw);
        assertThat(peer.isOpen()).isTrue();
        assertThat(peer.stats().framesDropped()).isZero();
    }

    /** Window auto-tuning negotiated: a PING is answered with a PONG carrying its token (protocol.md §9). */
    @Test
    void serverAnswersAPingWithAPongCarryingItsToken() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        negotiate(raw, Extension.SUPPORTED_FEATURES);
        raw.send(frame(BRID, 1, PROC_PING, TYPE_MESSAGE, 0, STATUS_OK, words(0x01020304, 0x05060708)));
        final RawPeer.Frame pong = raw.readFrame();
        assertThat(pong.toString()).isEqualTo("MESSAGE/OK prog 0x62726964 vers 1 proc 6 serial 0 payload 8 bytes");
        assertThat(pong.payloadBuffer().getLong(0)).isEqualTo(0x0102030405060708L);
        assertThat(peer.isOpen()).isTrue();
    }

    /** Without the feature (a braid peer from before it): PING and WINDOW are dropped and counted. */
    @Test
    void serverDropsPingAndWindowWhenTuningIsNotNegotiated() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        negotiate(raw, Extension.FEATURE_FLOW_CONTROL);
        raw.send(frame(BRID, 1, PROC_PING, TYPE_MESSAGE, 0, STATUS_OK, words(1, 2)),
                frame(BRID, 1, PROC_WINDOW, TYPE_MESSAGE, 0, STATUS_OK, words(1 << 22)));
        pingPong(raw);
        assertThat(peer.stats().framesDropped()).isEqualTo(2);
        assertThat(peer.isOpen()).isTrue();
    }

    @Test
    void serverClosesOnAMalformedWindow() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        negotiate(raw, Extension.SUPPORTED_FEATURES);
        raw.send(frame(BRID, 1, PROC_WINDOW, TYPE_MESSAGE, 0, STATUS_OK, words(1 << 22, 0)));
        assertThat(raw.readUntilClosed()).isEmpty();
        assertClosed(peer, Reason.PROTOCOL_ERROR, "protocol error: malformed WINDOW: 8 bytes, expected 4");
    }

    @Test
    void serverClosesOnAWindowThatCannotCarryAPacket() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        negotiate(raw, Extension.SUPPORTED_FEATURES);
        raw.send(frame(BRID, 1, PROC_WINDOW, TYPE_MESSAGE, 0, STATUS_OK, words(511)));
        assertThat(raw.readUntilClosed()).isEmpty();
        assertClosed(peer, Reason.PROTOCOL_ERROR,
                "protocol error: WINDOW of 511 bytes is outside 512..2147483647");
    }

    @Test
    void serverRefusesAStreamBeyondMaxConcurrentStreams() throws Exception {
        final BraidServer server = streamTarget(serverConfig().maxConcurrentStreams(1));
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(streamCall(1));
        assertThat(raw.readFrame().toString()).isEqualTo("REPLY/OK prog 0x1234 vers 1 proc 2 serial 1 payload 0 bytes");
        raw.send(streamCall(2));
        final RawPeer.Frame refused = raw.readFrame();
        assertThat(refused.toString()).startsWith("REPLY/ERROR prog 0x1234 vers 1 proc 2 serial 2 ");
        assertThat(refused.remoteError()).isEqualTo(RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC,
                "too many concurrent streams on this connection (limit maxConcurrentStreams = 1)"));
        pingPong(raw);
        assertThat(peer.isOpen()).isTrue();
    }

    @Test
    void serverClosesOnAStreamCallReusingTheSerialOfAnOpenStream() throws Exception {
        final BraidServer server = streamTarget(serverConfig().maxConcurrentStreams(2));
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(streamCall(5));
        assertThat(raw.readFrame().toString()).isEqualTo("REPLY/OK prog 0x1234 vers 1 proc 2 serial 5 payload 0 bytes");
        raw.send(streamCall(5));
        assertThat(raw.readUntilClosed()).isEmpty();
        assertClosed(peer, Reason.PROTOCOL_ERROR, "protocol error: a stream call reuses the serial of an open "
                + "stream: CALL/OK prog 0x1234 vers 1 proc 2 serial 5");
    }

    @Test
    void serverAbortsAStreamWhosePeerExceedsTheFlowControlWindow() throws Exception {
        final BraidServer server = streamTarget(serverConfig().initialStreamWindow(262_120));
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        negotiate(raw, Extension.FEATURE_FLOW_CONTROL);
        raw.send(streamCall(2));
        assertThat(raw.readFrame().toString()).isEqualTo("REPLY/OK prog 0x1234 vers 1 proc 2 serial 2 payload 0 bytes");
        // A packet with the stream's serial but another procedure is not the stream's: dropped and counted.
        raw.send(frame(ECHO.program(), ECHO.version(), ECHO.procedure(), TYPE_STREAM, 2, STATUS_CONTINUE,
                new byte[10]));
        // The handler reads nothing: the second packet goes beyond the window of 262,120 bytes.
        raw.send(frame(STREAM_PROC.program(), 1, STREAM_PROC.procedure(), TYPE_STREAM, 2, STATUS_CONTINUE,
                        new byte[100_000]),
                frame(STREAM_PROC.program(), 1, STREAM_PROC.procedure(), TYPE_STREAM, 2, STATUS_CONTINUE,
                        new byte[200_000]));
        final RawPeer.Frame abort = raw.readFrame();
        assertThat(abort.toString()).startsWith("STREAM/ERROR prog 0x1234 vers 1 proc 2 serial 2 ");
        assertThat(abort.remoteError()).isEqualTo(RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR,
                RemoteError.VIR_FROM_RPC, "stream 0x1234/1/2 aborted by the server: peer exceeded the flow-control "
                        + "window of 262120 bytes"));
        pingPong(raw);
        assertThat(peer.stats().framesDropped()).isEqualTo(1);
        assertThat(peer.isOpen()).isTrue();
    }

    @Test
    void serverAnswersPingAndDropsOtherKeepaliveMessages() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(PONG, // unsolicited PONG: ignored, not counted
                frame(KEEPALIVE_PROGRAM, 1, 3, TYPE_MESSAGE, 0, STATUS_OK),
                frame(KEEPALIVE_PROGRAM, 2, KEEPALIVE_PING, TYPE_MESSAGE, 0, STATUS_OK),
                PING);
        final RawPeer.Frame pong = raw.readFrame();
        assertThat(pong.toString()).isEqualTo("MESSAGE/OK prog 0x6b656570 vers 1 proc 2 serial 0 payload 0 bytes");
        assertThat(peer.stats().framesDropped()).isEqualTo(2);
        assertThat(peer.isOpen()).isTrue();
    }

    @Test
    void serverStopsReadingWhenAClientIgnoresTheOutstandingCallLimit() throws Exception {
        final BlockingQueue<IncomingCall> held = new LinkedBlockingQueue<>();
        final BraidServer server = server(serverConfig().maxOutstandingCalls(2), s -> s
                .onConnection(serverPeers::add)
                .handle(ECHO, call -> {
                    call.deferReply();
                    held.add(call);
                }, HandlerMode.NON_BLOCKING));
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        // A client that ignores the advertised limit of 2: four calls, then a PING, in one write.
        raw.send(echoCall(1, "a"), echoCall(2, "b"), echoCall(3, "c"), echoCall(4, "d"), PING);
        final IncomingCall a = take(held);
        final IncomingCall b = take(held);
        assertThat(List.of(a.serial(), b.serial())).containsExactly(1, 2);
        // Call 3 is parked and reading stops. Answering call 1 dispatches call 3, and call 4 is parked.
        a.reply(a.args());
        // Had the PING been read early, its PONG would be on the wire before REPLY 1.
        assertThat(raw.readFrame().toString()).isEqualTo("REPLY/OK prog 0x1234 vers 1 proc 1 serial 1 payload 1 bytes");
        final IncomingCall c = take(held);
        assertThat(c.serial()).isEqualTo(3);
        // Answering call 2 dispatches call 4; then the PING is read at last.
        b.reply(b.args());
        assertThat(List.of(raw.readFrame().toString(), raw.readFrame().toString())).containsExactlyInAnyOrder(
                "REPLY/OK prog 0x1234 vers 1 proc 1 serial 2 payload 1 bytes",
                "MESSAGE/OK prog 0x6b656570 vers 1 proc 2 serial 0 payload 0 bytes");
        final IncomingCall d = take(held);
        assertThat(d.serial()).isEqualTo(4);
        c.reply(c.args());
        d.reply(d.args());
        assertThat(List.of(raw.readFrame().serial(), raw.readFrame().serial())).containsExactlyInAnyOrder(3, 4);
        // Two suspensions when call 3 is decoded before call 1 is answered, one when the answer comes first
        // (call 3 then finds a free slot): either way reading stopped at the limit.
        assertThat(peer.stats().readSuspensions()).isBetween(1L, 2L);
        assertThat(peer.stats().callsServed()).isEqualTo(4);
        assertThat(peer.isOpen()).isTrue();
    }

    @Test
    void serverClosesAClientThatDoesNotAnswerKeepalive() throws Exception {
        final BraidServer server = target(serverConfig().keepaliveInterval(Duration.ofMillis(50)).keepaliveCount(2));
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        assertThat(raw.readFrame().isKeepalive(KEEPALIVE_PING)).isTrue();
        assertThat(raw.readFrame().isKeepalive(KEEPALIVE_PING)).isTrue();
        assertThat(raw.readUntilClosed()).as("nothing after the second unanswered PING").isEmpty();
        assertClosed(peer, Reason.PEER_NOT_RESPONDING,
                "peer not responding: no answer to 2 keepalive PINGs sent every 50 ms");
    }

    @Test
    void serverKeepsAClientThatAnswersKeepalive() throws Exception {
        // 20 PINGs 100 ms apart may go unanswered (2 s): a loaded machine may stall this thread between reading
        // a PING and answering it (a count of 5 at 50 ms closed the connection once under stress-ng --cpu 2).
        final BraidServer server = target(serverConfig().keepaliveInterval(Duration.ofMillis(100)).keepaliveCount(20));
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        for (int i = 0; i < 22; i++) { // more PINGs than keepaliveCount: each PONG reset the count
            assertThat(raw.readFrame().isKeepalive(KEEPALIVE_PING)).isTrue();
            raw.send(PONG);
        }
        assertThat(peer.isOpen()).isTrue();
    }

    // ------------------------------------------------------------------ bugs: see the report

    @Test
    void serverWithASmallMaxMessageSizeStillAnswersUnknownProcedures() throws Exception {
        final BraidServer server = target(serverConfig().maxMessageSize(SMALL_MAX));
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(frame(0x1234, 1, 99, TYPE_CALL, 1, STATUS_OK));
        final RawPeer.Frame reply = raw.readFrame(); // today: the connection closes, reason RESET
        assertThat(reply.toString()).startsWith("REPLY/ERROR prog 0x1234 vers 1 proc 99 serial 1 ");
        assertThat(reply.remoteError()).isEqualTo(RemoteError.of(RemoteError.VIR_ERR_NO_SUPPORT,
                RemoteError.VIR_FROM_RPC, "unknown procedure 99 in program 0x1234 version 1"));
        assertThat(peer.isOpen()).isTrue();
    }

    @Test
    void helloWithASmallMaxMessageDoesNotBreakErrorReplies() throws Exception {
        final BraidServer server = target(serverConfig());
        final RawPeer raw = rawClient(server);
        final Peer peer = acceptedPeer();
        raw.send(frame(BRID, 1, PROC_HELLO, TYPE_CALL, 1, STATUS_OK, hello(1, 0, 284, 8, 8, 1 << 20)));
        assertThat(raw.readFrame().hello().maxMessage()).isEqualTo(284);
        raw.send(frame(0x1234, 1, 99, TYPE_CALL, 2, STATUS_OK));
        final RawPeer.Frame reply = raw.readFrame(); // today: the connection closes, reason RESET
        assertThat(reply.toString()).startsWith("REPLY/ERROR prog 0x1234 vers 1 proc 99 serial 2 ");
        assertThat(28 + reply.payload().length).isLessThanOrEqualTo(284);
        assertThat(reply.remoteError().code()).isEqualTo(RemoteError.VIR_ERR_NO_SUPPORT);
        assertThat(peer.isOpen()).isTrue();
    }

    @Test
    void aFailingHandlerIsAnsweredWhateverTheMaxMessageSize() throws Exception {
        final BraidServer server = server(serverConfig().maxMessageSize(SMALL_MAX), s -> s
                .handle(ECHO, call -> {
                    throw new IllegalStateException("boom");
                }));
        final RawPeer raw = rawClient(server);
        raw.send(echoCall(1, "a"));
        final RawPeer.Frame reply = raw.readFrame(); // today: nothing, and one pooled buffer leaks
        assertThat(reply.toString()).startsWith("REPLY/ERROR prog 0x1234 vers 1 proc 1 serial 1 ");
        assertThat(reply.remoteError()).isEqualTo(RemoteError.of(RemoteError.VIR_ERR_INTERNAL_ERROR,
                RemoteError.VIR_FROM_RPC, "handler for 0x1234/1/1 failed: java.lang.IllegalStateException: boom"));
    }

    // ================================================================== against a braid client

    @Test
    void clientSendsHelloAndAdoptsTheServersLimits() throws Exception {
        final Fake fake = fakeServer(clientConfig().maxMessageSize(1 << 21),
                hello(7, 0xff, 1 << 20, 3, 5, 300_000));
        assertThat(fake.client().extensionsNegotiated()).isTrue();
        // version: the lower; features: both support; max message: the lower; the rest: the server's.
        assertThat(fake.client().limits()).isEqualTo(
                new NegotiatedLimits(1, Extension.SUPPORTED_FEATURES & 0xff, 1 << 20, 3, 5, 300_000));
    }

    @Test
    void clientFallsBackToLibvirtModeWhenHelloIsRefused() throws Exception {
        final RawPeer.Listener listener = closeLater(RawPeer.listen());
        final BraidConfig config = clientConfig().maxOutstandingCalls(9);
        final CompletableFuture<Connection> connecting = braid(config).connectAsync(listener.address());
        final RawPeer server = closeLater(listener.accept());
        final RawPeer.Frame hello = server.readFrame();
        server.send(frame(BRID, 1, PROC_HELLO, TYPE_REPLY, hello.serial(), STATUS_ERROR, RawPeer.remoteError(
                RemoteError.of(RemoteError.VIR_ERR_RPC, RemoteError.VIR_FROM_RPC, "unknown program"))));
        final Connection c = connecting.get(WAIT_MILLIS, MILLISECONDS);
        closeLater(c::abort);
        assertThat(c.extensionsNegotiated()).isFalse();
        assertThat(c.limits()).isEqualTo(new NegotiatedLimits(0, 0, config.maxMessageSize(), 9, 64,
                BraidConfig.DEFAULT_STREAM_WINDOW));
        final CompletableFuture<Reply> call = call(c, "hi");
        final RawPeer.Frame sent = server.readFrame();
        assertThat(sent.toString()).isEqualTo("CALL/OK prog 0x1234 vers 1 proc 1 serial 2 payload 2 bytes");
        server.send(replyTo(sent, sent.payload()));
        try (Reply r = call.get(WAIT_MILLIS, MILLISECONDS)) {
            assertThat(r.toByteArray()).isEqualTo("hi".getBytes(StandardCharsets.UTF_8));
        }
    }

    static Stream<Bad> malformedHelloReplies() {
        return Stream.of(
                new Bad("20 bytes", new byte[20], "malformed HELLO: 20 bytes, expected 24"),
                new Bad("max_outstanding 0", hello(1, 0, 1 << 20, 0, 8, 1 << 20),
                        "malformed HELLO: out-of-range limits Hello[version=1, features=0, maxMessage=1048576, "
                                + "maxOutstanding=0, maxStreams=8, initialWindow=1048576]"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedHelloReplies")
    void clientRefusesAMalformedHelloReply(final Bad bad) throws Exception {
        final RawPeer.Listener listener = closeLater(RawPeer.listen());
        final CompletableFuture<Connection> connecting = braid(clientConfig()).connectAsync(listener.address());
        final RawPeer server = closeLater(listener.accept());
        final RawPeer.Frame hello = server.readFrame();
        server.send(frame(BRID, 1, PROC_HELLO, TYPE_REPLY, hello.serial(), STATUS_OK, bad.bytes()));
        final Throwable failure = failure(connecting);
        assertThat(failure).isInstanceOf(ProtocolException.class).hasMessage(bad.expected());
        assertThat(server.readUntilClosed()).isEmpty();
    }

    @Test
    void clientGivesUpWhenHelloIsNotAnswered() throws Exception {
        final RawPeer.Listener listener = closeLater(RawPeer.listen());
        final CompletableFuture<Connection> connecting = braid(clientConfig().helloTimeout(Duration.ofMillis(100)))
                .connectAsync(listener.address());
        final RawPeer server = closeLater(listener.accept());
        assertThat(server.readFrame().proc()).isEqualTo(PROC_HELLO);
        final Throwable failure = failure(connecting);
        assertThat(failure).isInstanceOfSatisfying(ConnectionClosedException.class,
                e -> assertThat(e.reason()).isEqualTo(ConnectionClosedException.Reason.PEER_NOT_RESPONDING))
                .hasMessage("peer not responding: no answer to HELLO within 100 ms");
        assertThat(server.readUntilClosed()).isEmpty();
    }

    static Stream<Bad> clientProtocolViolations() {
        return Stream.of(
                new Bad("CALL sent to a client", frame(0x1234, 1, 1, TYPE_CALL, 9, STATUS_OK),
                        "a server sent a CALL to a client: CALL/OK prog 0x1234 vers 1 proc 1 serial 9"),
                new Bad("REPLY for serial 99, never used", frame(0x1234, 1, 1, TYPE_REPLY, 99, STATUS_OK),
                        "REPLY for a serial no call used: REPLY/OK prog 0x1234 vers 1 proc 1 serial 99"),
                new Bad("REPLY for serial 0", frame(0x1234, 1, 1, TYPE_REPLY, 0, STATUS_OK),
                        "REPLY for a serial no call used: REPLY/OK prog 0x1234 vers 1 proc 1 serial 0"),
                new Bad("ERROR REPLY for serial 4, not yet used", frame(0x1234, 1, 1, TYPE_REPLY, 4, STATUS_ERROR),
                        "REPLY for a serial no call used: REPLY/ERROR prog 0x1234 vers 1 proc 1 serial 4"),
                new Bad("REPLY for a serial 2^31 ahead", frame(0x1234, 1, 1, TYPE_REPLY, 0x8000_0005, STATUS_OK),
                        "REPLY for a serial no call used: REPLY/OK prog 0x1234 vers 1 proc 1 serial 2147483653"),
                new Bad("REPLY_WITH_FDS", frame(0x1234, 1, 1, TYPE_REPLY_WITH_FDS, 2, STATUS_OK),
                        "REPLY_WITH_FDS (file descriptor passing) is not supported by braid: "
                                + "REPLY_WITH_FDS/OK prog 0x1234 vers 1 proc 1 serial 2"),
                new Bad("REPLY with status CONTINUE", frame(0x1234, 1, 1, TYPE_REPLY, 2, STATUS_CONTINUE),
                        "REPLY cannot have status CONTINUE: REPLY/CONTINUE prog 0x1234 vers 1 proc 1 serial 2"),
                new Bad("type 8", frame(0x1234, 1, 1, 8, 2, STATUS_OK),
                        "unknown message type 8 in frame of 28 bytes"),
                new Bad("frame longer than the client's maxMessageSize",
                        header(5000, 0x1234, 1, 1, TYPE_REPLY, 2, STATUS_OK),
                        "frame length 5000 exceeds the limit maxMessageSize = 4096 bytes"),
                new Bad("length 20", header(20, 0x1234, 1, 1, TYPE_REPLY, 2, STATUS_OK),
                        "frame length 20 is below the minimum of 28 bytes"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("clientProtocolViolations")
    void clientClosesOnAProtocolViolationAndFailsPendingCalls(final Bad bad) throws Exception {
        final Fake fake = fakeServer(clientConfig().maxMessageSize(SMALL_MAX), defaultHello());
        final CompletableFuture<Reply> first = call(fake.client(), "a");
        final CompletableFuture<Reply> second = call(fake.client(), "b");
        assertThat(fake.server().readFrame().serial()).isEqualTo(2);
        assertThat(fake.server().readFrame().serial()).isEqualTo(3);
        fake.server().send(bad.bytes());
        final String expected = "protocol error: " + bad.expected();
        assertThat(closedFailure(first, Reason.PROTOCOL_ERROR)).hasMessage(expected);
        assertThat(closedFailure(second, Reason.PROTOCOL_ERROR)).hasMessage(expected);
        assertThat(fake.server().readUntilClosed()).isEmpty();
        assertClosed(fake.client(), Reason.PROTOCOL_ERROR, expected);
    }

    static Stream<Bad> mismatchedReplies() {
        return Stream.of(
                new Bad("other procedure", frame(0x1234, 1, 7, TYPE_REPLY, 2, STATUS_OK),
                        "REPLY does not match its call 0x1234/1/1: REPLY/OK prog 0x1234 vers 1 proc 7 serial 2"),
                new Bad("other version", frame(0x1234, 2, 1, TYPE_REPLY, 2, STATUS_OK),
                        "REPLY does not match its call 0x1234/1/1: REPLY/OK prog 0x1234 vers 2 proc 1 serial 2"),
                new Bad("other program, ERROR", frame(0x4321, 1, 1, TYPE_REPLY, 2, STATUS_ERROR),
                        "REPLY does not match its call 0x1234/1/1: REPLY/ERROR prog 0x4321 vers 1 proc 1 serial 2"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("mismatchedReplies")
    void clientClosesOnAReplyThatDoesNotMatchItsCall(final Bad bad) throws Exception {
        final Fake fake = fakeServer(clientConfig(), defaultHello());
        final CompletableFuture<Reply> matched = call(fake.client(), "a");
        final CompletableFuture<Reply> other = call(fake.client(), "b");
        fake.server().readFrame();
        fake.server().readFrame();
        fake.server().send(bad.bytes());
        // The call the reply names and the others all fail with the connection's PROTOCOL_ERROR.
        assertThat(closedFailure(matched, Reason.PROTOCOL_ERROR)).hasMessage("protocol error: " + bad.expected());
        assertThat(closedFailure(other, Reason.PROTOCOL_ERROR)).hasMessage("protocol error: " + bad.expected());
        assertThat(fake.server().readUntilClosed()).isEmpty();
        assertClosed(fake.client(), Reason.PROTOCOL_ERROR, "protocol error: " + bad.expected());
    }

    static Stream<Bad> malformedRemoteErrors() {
        return Stream.of(
                new Bad("empty", new byte[0], "malformed XDR: remote_error.code needs 4 bytes, 0 left"),
                new Bad("message presence 7", words(1, 7, 7),
                        "malformed XDR: remote_error.message presence is a bool but holds 7"),
                new Bad("message length 2^32 - 1", words(1, 7, 1, -1),
                        "malformed XDR: remote_error.message length 4294967295 exceeds 4194304"),
                new Bad("message of 100 bytes cut at 4", words(1, 7, 1, 100, 0x41414141),
                        "malformed XDR: remote_error.message needs 100 bytes, 4 left"),
                new Bad("cut before net", words(1, 7, 0, 2, 0, 0, 0, 0, 0, 0),
                        "malformed XDR: remote_error.net presence needs 4 bytes, 0 left"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedRemoteErrors")
    void clientClosesOnAMalformedErrorReply(final Bad bad) throws Exception {
        final Fake fake = fakeServer(clientConfig(), defaultHello());
        final CompletableFuture<Reply> matched = call(fake.client(), "a");
        final CompletableFuture<Reply> other = call(fake.client(), "b");
        final RawPeer.Frame sent = fake.server().readFrame();
        fake.server().readFrame();
        fake.server().send(frame(sent.prog(), sent.vers(), sent.proc(), TYPE_REPLY, sent.serial(), STATUS_ERROR,
                bad.bytes()));
        assertThat(closedFailure(matched, Reason.PROTOCOL_ERROR)).hasMessage("protocol error: " + bad.expected());
        assertThat(closedFailure(other, Reason.PROTOCOL_ERROR)).hasMessage("protocol error: " + bad.expected());
        assertThat(fake.server().readUntilClosed()).isEmpty();
        assertClosed(fake.client(), Reason.PROTOCOL_ERROR, "protocol error: " + bad.expected());
    }

    @Test
    void clientIgnoresBytesAfterTheRemoteErrorOfAnErrorReply() throws Exception {
        final Fake fake = fakeServer(clientConfig(), defaultHello());
        final CompletableFuture<Reply> refused = call(fake.client(), "a");
        final RawPeer.Frame sent = fake.server().readFrame();
        final RemoteError error = RemoteError.of(RemoteError.VIR_ERR_NO_SUPPORT, RemoteError.VIR_FROM_RPC, "nope");
        fake.server().send(frame(sent.prog(), sent.vers(), sent.proc(), TYPE_REPLY, sent.serial(), STATUS_ERROR,
                concat(RawPeer.remoteError(error), words(1, 2, 3))));
        assertThat(failure(refused)).isInstanceOfSatisfying(RemoteException.class,
                e -> assertThat(e.error()).isEqualTo(error));
        assertThat(fake.client().isOpen()).isTrue();
    }

    @ParameterizedTest(name = "{0} bytes")
    @ValueSource(ints = {2, 10, 28, 40})
    void clientFailsPendingCallsWhenTheServerClosesMidFrame(final int sent) throws Exception {
        final Fake fake = fakeServer(clientConfig(), defaultHello());
        final CompletableFuture<Reply> first = call(fake.client(), "a");
        final CompletableFuture<Reply> second = call(fake.client(), "b");
        fake.server().readFrame();
        fake.server().readFrame();
        final byte[] reply = frame(0x1234, 1, 1, TYPE_REPLY, 2, STATUS_OK, new byte[100]);
        fake.server().send(Arrays.copyOf(reply, sent));
        fake.server().shutdownOutput();
        final String expected = "peer closed the connection: in the middle of a frame (" + sent
                + " bytes of it received)";
        assertThat(closedFailure(first, Reason.PEER_CLOSED)).hasMessage(expected);
        assertThat(closedFailure(second, Reason.PEER_CLOSED)).hasMessage(expected);
        assertThat(fake.server().readUntilClosed()).isEmpty();
    }

    @Test
    void clientFailsPendingCallsWhenTheServerClosesBetweenFrames() throws Exception {
        final Fake fake = fakeServer(clientConfig(), defaultHello());
        final CompletableFuture<Reply> pending = call(fake.client(), "a");
        fake.server().readFrame();
        fake.server().shutdownOutput();
        final ConnectionClosedException why = closedFailure(pending, Reason.PEER_CLOSED);
        assertThat(why.getMessage()).isEqualTo("peer closed the connection: " + fake.client().remoteAddress());
        assertThat(fake.server().readUntilClosed()).isEmpty();
    }

    @Test
    void clientDropsAndCountsLateAndDuplicateReplies() throws Exception {
        final Fake fake = fakeServer(clientConfig(), defaultHello());
        final Connection c = fake.client();
        final CompletableFuture<Reply> timedOut = c.callAsync(ECHO, ByteBuffer.wrap(new byte[]{1}),
                CallOptions.timeout(Duration.ofMillis(20)));
        final CompletableFuture<Reply> answered = call(c, "b");
        final RawPeer.Frame a = fake.server().readFrame();
        final RawPeer.Frame b = fake.server().readFrame();
        assertThat(failure(timedOut)).isInstanceOf(CallTimeoutException.class)
                .hasMessage("call 0x1234/1/1 serial 2 timed out after 20 ms");
        fake.server().send(replyTo(a, a.payload()), // late: its call timed out
                replyTo(b, b.payload()),
                replyTo(b, b.payload()), // duplicate
                replyTo(b, b.payload()), // and again
                frame(0x1234, 1, 1, TYPE_REPLY, 1, STATUS_OK)); // HELLO's serial, answered long ago
        try (Reply r = answered.get(WAIT_MILLIS, MILLISECONDS)) {
            assertThat(r.serial()).isEqualTo(3);
        }
        syncCall(fake);
        assertThat(c.stats().lateReplies()).isEqualTo(4);
        assertThat(c.isOpen()).isTrue();
    }

    @Test
    void clientDropsAndCountsStreamPacketsAndUnheardEventsAndAnswersPing() throws Exception {
        final Fake fake = fakeServer(clientConfig(), defaultHello());
        fake.server().send(frame(0x1234, 1, 1, TYPE_STREAM, 2, STATUS_CONTINUE, new byte[10]),
                frame(0x1234, 1, 1, TYPE_STREAM_HOLE, 2, STATUS_CONTINUE, new byte[12]),
                frame(KEEPALIVE_PROGRAM, 1, 7, TYPE_MESSAGE, 0, STATUS_OK),
                frame(0x1234, 1, 5, TYPE_MESSAGE, 0, STATUS_OK, words(1)),
                PING);
        assertThat(fake.server().readFrame().isKeepalive(KEEPALIVE_PONG)).isTrue();
        syncCall(fake);
        assertThat(fake.client().stats().framesDropped()).isEqualTo(3);
        assertThat(fake.client().stats().eventsDropped()).isEqualTo(1);
        assertThat(fake.client().isOpen()).isTrue();
    }

    @Test
    void clientQueuesCallsBeyondTheServersAdvertisedLimit() throws Exception {
        final Fake fake = fakeServer(clientConfig(), hello(1, 0, 1 << 20, 1, 8, 1 << 20));
        final Connection c = fake.client();
        final CompletableFuture<Reply> first = call(c, "a");
        final CompletableFuture<Reply> second = call(c, "b");
        assertThat(c.stats().callsInFlight()).isEqualTo(1);
        assertThat(c.stats().callsQueued()).isEqualTo(1);
        final RawPeer.Frame a = fake.server().readFrame();
        assertThat(a.serial()).isEqualTo(2);
        fake.server().send(replyTo(a, a.payload()));
        first.get(WAIT_MILLIS, MILLISECONDS).close();
        final RawPeer.Frame b = fake.server().readFrame(); // sent only once the first call freed its slot
        assertThat(b.serial()).isEqualTo(3);
        fake.server().send(replyTo(b, b.payload()));
        second.get(WAIT_MILLIS, MILLISECONDS).close();
        assertThat(c.stats().callsQueued()).isZero();
    }

    /** A REPLY naming a call still waiting for a slot (never sent) is a protocol error. */
    @Test
    void clientClosesOnAReplyForACallItHasNotSentYet() throws Exception {
        final Fake fake = fakeServer(clientConfig(), hello(1, 0, 1 << 20, 1, 8, 1 << 20));
        final Connection c = fake.client();
        final CompletableFuture<Reply> first = call(c, "a");
        final CompletableFuture<Reply> queued = call(c, "b");
        fake.server().readFrame();
        assertThat(c.stats().callsQueued()).isEqualTo(1);
        fake.server().send(frame(0x1234, 1, 1, TYPE_REPLY, 3, STATUS_OK, words(42)));
        final String expected = "protocol error: REPLY for a call that was not sent yet: REPLY/OK prog 0x1234 vers 1 "
                + "proc 1 serial 3";
        assertThat(closedFailure(queued, Reason.PROTOCOL_ERROR)).hasMessage(expected);
        assertThat(closedFailure(first, Reason.PROTOCOL_ERROR)).hasMessage(expected);
        assertThat(fake.server().readUntilClosed()).isEmpty();
    }


    @Test
    void clientClosesOnAMalformedRelease() throws Exception {
        final Fake fake = fakeServer(clientConfig(), hello(1, Extension.SUPPORTED_FEATURES, 1 << 20, 8, 8, 1 << 20));
        final CompletableFuture<Reply> pending = call(fake.client(), "a");
        fake.server().readFrame();
        fake.server().send(frame(BRID, 1, PROC_RELEASE, TYPE_MESSAGE, 0, STATUS_OK, words(2, 0)));
        final String expected = "protocol error: malformed RELEASE: 8 bytes, expected 4";
        assertThat(closedFailure(pending, Reason.PROTOCOL_ERROR)).hasMessage(expected);
        assertThat(fake.server().readUntilClosed()).isEmpty();
        assertClosed(fake.client(), Reason.PROTOCOL_ERROR, expected);
    }

    @Test
    void clientFailsOnlyTheStreamWhenItsAbortCarriesAMalformedRemoteError() throws Exception {
        final Fake fake = fakeServer(clientConfig(), defaultHello());
        final BraidStream stream = openFakeStream(fake);
        fake.server().send(frame(STREAM_PROC.program(), 1, STREAM_PROC.procedure(), TYPE_STREAM, stream.serial(),
                STATUS_ERROR, words(1, 7, 9)));
        final ByteBuffer dst = ByteBuffer.allocate(16);
        assertThatThrownBy(() -> stream.read(dst, Duration.ofMillis(WAIT_MILLIS)))
                .isInstanceOfSatisfying(BraidException.class,
                        e -> assertThat(e.category()).isEqualTo(BraidException.Category.PROTOCOL))
                .hasMessage("stream 0x1234/1/2#2 aborted by the peer with a malformed remote_error: malformed XDR: "
                        + "remote_error.message presence is a bool but holds 9");
        syncCall(fake);
        assertThat(fake.client().isOpen()).isTrue();
    }

    @Test
    void clientRefusesAHoleOfNegativeLength() throws Exception {
        final Fake fake = fakeServer(clientConfig(), defaultHello());
        final BraidStream stream = openFakeStream(fake);
        fake.server().send(frame(STREAM_PROC.program(), 1, STREAM_PROC.procedure(), TYPE_STREAM_HOLE, stream.serial(),
                STATUS_CONTINUE, concat(words(-1, -5), words(0))));
        final ByteBuffer dst = ByteBuffer.allocate(16);
        assertThatThrownBy(() -> stream.read(dst, Duration.ofMillis(WAIT_MILLIS)))
                .isInstanceOf(BraidException.class).hasMessageContaining("hole");
    }

    /** Issue 11: one hole packet (512 bytes of window) must not stand for 2^63 - 1 zeros. */
    @Test
    void clientAbortsAStreamOnAHoleBeyondMaxStreamHole() throws Exception {
        final Fake fake = fakeServer(clientConfig().maxStreamHole(1 << 20), defaultHello());
        final BraidStream stream = openFakeStream(fake);
        fake.server().send(frame(STREAM_PROC.program(), 1, STREAM_PROC.procedure(), TYPE_STREAM_HOLE, stream.serial(),
                STATUS_CONTINUE, concat(words(Integer.MAX_VALUE, -1), words(0))));
        final ByteBuffer dst = ByteBuffer.allocate(16);
        assertThatThrownBy(() -> stream.read(dst, Duration.ofMillis(WAIT_MILLIS)))
                .isInstanceOfSatisfying(dev.braid.LimitExceededException.class, e -> {
                    assertThat(e.limit()).isEqualTo("maxStreamHole");
                    assertThat(e.getMessage()).contains("a hole of " + Long.MAX_VALUE + " bytes");
                });
        assertThat(fake.client().isOpen()).as("the connection stays open").isTrue();
    }

    @Test
    void clientClosesAServerThatDoesNotAnswerKeepalive() throws Exception {
        final Fake fake = fakeServer(clientConfig().keepaliveInterval(Duration.ofMillis(50)).keepaliveCount(2),
                defaultHello());
        final CompletableFuture<Reply> pending = call(fake.client(), "a");
        int pings = 0;
        int calls = 0;
        for (int i = 0; i < 3; i++) {
            final RawPeer.Frame f = fake.server().readFrame();
            if (f.isKeepalive(KEEPALIVE_PING)) {
                pings++;
            } else if (f.type() == TYPE_CALL) {
                calls++;
            }
        }
        assertThat(List.of(pings, calls)).containsExactly(2, 1);
        final String expected = "peer not responding: no answer to 2 keepalive PINGs sent every 50 ms";
        assertThat(closedFailure(pending, Reason.PEER_NOT_RESPONDING)).hasMessage(expected);
        assertThat(fake.server().readUntilClosed()).isEmpty();
        assertClosed(fake.client(), Reason.PEER_NOT_RESPONDING, expected);
    }

    // ================================================================== helpers

    /** A server config with keepalive off, so that nothing arrives unasked. */
    private BraidConfig serverConfig() {
        return config(true).keepaliveInterval(Duration.ZERO);
    }

    private BraidConfig clientConfig() {
        return config(false).keepaliveInterval(Duration.ZERO);
    }

    /** A braid server serving {@link #ECHO} on the I/O thread, recording each connection in {@link #serverPeers}. */
    private BraidServer target(final BraidConfig config) {
        return server(config, s -> s.onConnection(serverPeers::add)
                .handle(ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING));
    }

    private RawPeer rawClient(final BraidServer server) {
        return closeLater(RawPeer.connect(server.address()));
    }

    /** The server's side of the raw connection accepted last. */
    private Peer acceptedPeer() throws InterruptedException {
        final Peer p = serverPeers.poll(WAIT_MILLIS, MILLISECONDS);
        assertThat(p).as("the server's side of the raw connection").isNotNull();
        return p;
    }

    private static ConnectionClosedException closeReason(final Peer p) throws Exception {
        try {
            return p.closeFuture().get(WAIT_MILLIS, MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError(p + " still open after " + WAIT_MILLIS + " ms", e);
        }
    }

    private static void assertClosed(final Peer p, final Reason reason, final String message) throws Exception {
        final ConnectionClosedException why = closeReason(p);
        assertThat(why.reason()).isEqualTo(reason);
        assertThat(why).hasMessage(message);
        assertThat(p.isOpen()).isFalse();
    }

    /** PING, then wait for the PONG: every frame sent before has been processed (a connection reads in order). */
    private static void pingPong(final RawPeer raw) {
        raw.send(PING);
        final RawPeer.Frame f = raw.readFrame();
        assertThat(f.isKeepalive(KEEPALIVE_PONG)).as("PONG expected, got %s", f).isTrue();
    }

    private static <T> T take(final BlockingQueue<T> q) throws InterruptedException {
        final T t = q.poll(WAIT_MILLIS, MILLISECONDS);
        assertThat(t).as("nothing arrived within %d ms", WAIT_MILLIS).isNotNull();
        return t;
    }

    static byte[] echoCall(final int serial, final String arg) {
        return frame(ECHO.program(), ECHO.version(), ECHO.procedure(), TYPE_CALL, serial, STATUS_OK,
                arg.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] replyTo(final RawPeer.Frame call, final byte[] payload) {
        return frame(call.prog(), call.vers(), call.proc(), TYPE_REPLY, call.serial(), STATUS_OK, payload);
    }

    static byte[] defaultHello() {
        return hello(1, 0, 1 << 20, 64, 8, 1 << 20);
    }

    /** The stream procedure of {@link #streamTarget}. */
    static final Procedure STREAM_PROC = Procedure.of(0x1234, 1, 2);

    /**
     * A server with {@link #target}'s ECHO and a stream procedure whose handler accepts each stream and then
     * holds it, reading nothing, until the test ends.
     */
    private BraidServer streamTarget(final BraidConfig config) {
        final CountDownLatch end = new CountDownLatch(1);
        final BraidServer server = server(config, s -> s.onConnection(serverPeers::add)
                .handle(ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                .stream(STREAM_PROC, (call, stream) -> {
                    call.reply(new byte[0]);
                    end.await();
                }));
        closeLater(end::countDown); // closed first: the handlers return before the server closes
        return server;
    }

    static byte[] streamCall(final int serial) {
        return frame(STREAM_PROC.program(), STREAM_PROC.version(), STREAM_PROC.procedure(), TYPE_CALL, serial,
                STATUS_OK);
    }

    /** Sends a HELLO (serial 1) offering {@code features} and checks that the server accepted it. */
    private static void negotiate(final RawPeer raw, final int features) {
        raw.send(frame(BRID, 1, PROC_HELLO, TYPE_CALL, 1, STATUS_OK, hello(1, features, 1 << 20, 8, 8, 1 << 20)));
        final RawPeer.Frame reply = raw.readFrame();
        assertThat(reply.toString()).isEqualTo("REPLY/OK prog 0x62726964 vers 1 proc 1 serial 1 payload 24 bytes");
        assertThat(reply.hello().features()).isEqualTo(features & Extension.SUPPORTED_FEATURES);
    }

    /** Opens a stream on {@link #STREAM_PROC} through the fake server, which accepts it. */
    private BraidStream openFakeStream(final Fake fake) throws Exception {
        final CompletableFuture<BraidStream> opening = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try {
                opening.complete(fake.client().openStream(STREAM_PROC, new byte[0]));
            } catch (Throwable t) {
                opening.completeExceptionally(t);
            }
        });
        final RawPeer.Frame call = fake.server().readFrame();
        assertThat(call.toString()).isEqualTo("CALL/OK prog 0x1234 vers 1 proc 2 serial 2 payload 0 bytes");
        fake.server().send(replyTo(call, new byte[0]));
        final BraidStream stream = opening.get(WAIT_MILLIS, MILLISECONDS);
        closeLater(() -> stream.abort("test over"));
        return stream;
    }

    /** A braid client connected to a fake server that answered its HELLO. */
    record Fake(RawPeer server, Connection client) {
    }

    private Fake fakeServer(final BraidConfig config, final byte[] helloReply) throws Exception {
        final RawPeer.Listener listener = closeLater(RawPeer.listen());
        final CompletableFuture<Connection> connecting = braid(config).connectAsync(listener.address());
        final RawPeer server = closeLater(listener.accept());
        final RawPeer.Frame hello = server.readFrame();
        assertThat(hello.toString()).isEqualTo("CALL/OK prog 0x62726964 vers 1 proc 1 serial 1 payload 24 bytes");
        assertThat(hello.hello()).isEqualTo(new Extension.Hello(1, Extension.SUPPORTED_FEATURES,
                config.maxMessageSize(), config.maxOutstandingCalls(), config.maxConcurrentStreams(),
                config.initialStreamWindow()));
        server.send(frame(BRID, 1, PROC_HELLO, TYPE_REPLY, hello.serial(), STATUS_OK, helloReply));
        final Connection c = connecting.get(WAIT_MILLIS, MILLISECONDS);
        closeLater(c::abort);
        return new Fake(server, c);
    }

    /** One more call answered by the fake server: every frame the fake sent before has been processed. */
    private static void syncCall(final Fake fake) throws Exception {
        final CompletableFuture<Reply> sync = call(fake.client(), "sync");
        final RawPeer.Frame f = fake.server().readFrame();
        fake.server().send(replyTo(f, f.payload()));
        sync.get(WAIT_MILLIS, MILLISECONDS).close();
    }

    private static CompletableFuture<Reply> call(final Connection c, final String arg) {
        return c.callAsync(ECHO, arg.getBytes(StandardCharsets.UTF_8));
    }

    /** How {@code f} failed (it must fail within {@link RawPeer#WAIT_MILLIS}). */
    private static Throwable failure(final Future<?> f) throws InterruptedException {
        final Object value;
        try {
            value = f.get(WAIT_MILLIS, MILLISECONDS);
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (TimeoutException e) {
            throw new AssertionError("still pending after " + WAIT_MILLIS + " ms", e);
        }
        if (value instanceof AutoCloseable ac) {
            try {
                ac.close();
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
        throw new AssertionError("expected a failure, got " + value);
    }

    private static ConnectionClosedException closedFailure(final Future<?> f, final Reason reason)
            throws InterruptedException {
        final Throwable t = failure(f);
        assertThat(t).isInstanceOf(ConnectionClosedException.class);
        final ConnectionClosedException c = (ConnectionClosedException) t;
        assertThat(c.reason()).isEqualTo(reason);
        return c;
    }
}
