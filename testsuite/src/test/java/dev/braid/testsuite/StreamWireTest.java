package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Procedure;
import dev.braid.xdr.XdrCodec;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import static dev.braid.internal.wire.FrameHeader.STATUS_CONTINUE;
import static dev.braid.internal.wire.FrameHeader.STATUS_OK;
import static dev.braid.internal.wire.FrameHeader.TYPE_CALL;
import static dev.braid.internal.wire.FrameHeader.TYPE_REPLY;
import static dev.braid.internal.wire.FrameHeader.TYPE_STREAM;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What a plain libvirt client sees of issue 15's stream semantics (docs/protocol.md §10): a raw client that
 * never sends HELLO (libvirt-compatible mode) drives a braid server's stream frame by frame. The opening
 * reply is an ordinary REPLY payload, the result rides in the server's final STREAM/OK (libvirt's client
 * ignores a payload there), and a half-close is an empty STREAM/CONTINUE, after which the server's answer,
 * its EOF and the usual OK round trip follow.
 *
 * <p>Only the server side is braid: one run per server backend.
 */
class StreamWireTest extends TransportTest {
    static final int PROG = 0x7769_7265; // "wire"
    static final int VERS = 1;
    static final Procedure COUNT = Procedure.of(PROG, VERS, 1);

    private BraidServer server;

    @BeforeEach
    void countingServer() {
        assumeTrue(pairing.client().equals(pairing.server()), "the client is a raw socket: one run per server backend");
        server = server(s -> s.stream(COUNT, (call, stream) -> {
            call.reply(XdrCodec.OPTIONAL_STRING, "text/plain"); // the opening reply, libvirt's remote_string
            final ByteBuffer b = ByteBuffer.allocate(1024);
            long n = 0;
            int r;
            while ((r = stream.read(b)) != BraidStream.EOF) {
                n += r;
                b.flip();
                final String up = StandardCharsets.UTF_8.decode(b).toString().toUpperCase();
                if (!up.isEmpty()) {
                    stream.write(ByteBuffer.wrap(up.getBytes(StandardCharsets.UTF_8)));
                }
                b.clear();
            }
            stream.finish(XdrCodec.HYPER, n);
        }));
    }

    private static byte[] hyper(final long v) {
        return ByteBuffer.allocate(8).putLong(v).array();
    }

    private static byte[] openingReply() {
        final ByteBuffer b = ByteBuffer.allocate(XdrCodec.OPTIONAL_STRING.size("text/plain"));
        XdrCodec.OPTIONAL_STRING.write("text/plain", b);
        return b.array();
    }

    /**
     * libvirt's own upload: data, the client's OK, the server's OK. The server's OK carries the result (8
     * bytes here); a libvirt client takes the OK as the end of the handshake and ignores its payload.
     */
    @Test
    void anUploadEndsWithTheServersOkCarryingTheResult() throws Exception {
        try (RawPeer raw = RawPeer.connect(server.address())) {
            raw.send(RawPeer.frame(PROG, VERS, 1, TYPE_CALL, 7, STATUS_OK));
            final RawPeer.Frame reply = raw.readFrame();
            assertThat(reply.type()).isEqualTo(TYPE_REPLY);
            assertThat(reply.status()).isEqualTo(STATUS_OK);
            assertThat(reply.payload()).isEqualTo(openingReply());
            raw.send(RawPeer.frame(PROG, VERS, 1, TYPE_STREAM, 7, STATUS_CONTINUE, "abc".getBytes(StandardCharsets.UTF_8)),
                    RawPeer.frame(PROG, VERS, 1, TYPE_STREAM, 7, STATUS_OK));
            // the server answered the data as it came ("ABC"), then ends with OK: no EOF, the client finished first
            RawPeer.Frame f = raw.readFrame();
            assertThat(f.type()).isEqualTo(TYPE_STREAM);
            assertThat(f.status()).isEqualTo(STATUS_CONTINUE);
            assertThat(new String(f.payload(), StandardCharsets.UTF_8)).isEqualTo("ABC");
            f = raw.readFrame();
            assertThat(f.type()).isEqualTo(TYPE_STREAM);
            assertThat(f.status()).isEqualTo(STATUS_OK);
            assertThat(f.serial()).isEqualTo(7);
            assertThat(f.payload()).as("the result: hyper 3").isEqualTo(hyper(3));
        }
    }

    /**
     * A half-close on the wire: the client's empty STREAM/CONTINUE (EOF) ends its data only; the server
     * answers, sends its own EOF, waits for the client's OK and answers it with its OK and the result.
     */
    @Test
    void aHalfCloseIsAnEmptyContinueAndTheHandshakeFollows() throws Exception {
        try (RawPeer raw = RawPeer.connect(server.address())) {
            raw.send(RawPeer.frame(PROG, VERS, 1, TYPE_CALL, 9, STATUS_OK));
            assertThat(raw.readFrame().payload()).isEqualTo(openingReply());
            raw.send(RawPeer.frame(PROG, VERS, 1, TYPE_STREAM, 9, STATUS_CONTINUE, "half".getBytes(StandardCharsets.UTF_8)),
                    RawPeer.frame(PROG, VERS, 1, TYPE_STREAM, 9, STATUS_CONTINUE)); // EOF: the half-close
            RawPeer.Frame f = raw.readFrame();
            assertThat(new String(f.payload(), StandardCharsets.UTF_8)).isEqualTo("HALF");
            f = raw.readFrame();
            assertThat(f.type()).isEqualTo(TYPE_STREAM);
            assertThat(f.status()).as("the server's EOF").isEqualTo(STATUS_CONTINUE);
            assertThat(f.payload()).isEmpty();
            raw.send(RawPeer.frame(PROG, VERS, 1, TYPE_STREAM, 9, STATUS_OK));
            f = raw.readFrame();
            assertThat(f.status()).isEqualTo(STATUS_OK);
            assertThat(f.payload()).isEqualTo(hyper(4));
        }
    }
}
