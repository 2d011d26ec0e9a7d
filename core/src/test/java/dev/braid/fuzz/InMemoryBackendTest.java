package dev.braid.fuzz;

import dev.braid.Braid;
import dev.braid.BraidConfig;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.Procedure;
import dev.braid.buffer.BufferPool;
import dev.braid.internal.wire.Extension;
import dev.braid.testing.LeakChecks;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import static dev.braid.internal.wire.FrameHeader.STATUS_OK;
import static dev.braid.internal.wire.FrameHeader.TYPE_CALL;
import static dev.braid.internal.wire.FrameHeader.TYPE_REPLY;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The fuzzers' harness does what a socket would: a server pipe negotiates HELLO and answers a call, a client
 * pipe completes its connect once HELLO is answered, and each gives every pooled buffer back once closed. (If
 * it did not, the fuzzers would only ever exercise the first frame.)
 */
class InMemoryBackendTest {
    private static final InetSocketAddress ADDRESS = new InetSocketAddress("127.0.0.1", 1);
    /** Not the fuzzer's constant: loading that class would mark this thread as an I/O thread. */
    private static final Procedure ECHO = Procedure.of(0x1234, 1, 1);

    private static byte[] hello() {
        final ByteBuffer b = ByteBuffer.allocate(Extension.HELLO_LENGTH);
        new Extension.Hello(1, Extension.SUPPORTED_FEATURES, 1 << 20, 16, 8, 1 << 16).encode(b);
        return b.array();
    }

    /**
     * Past the PINGs at the start of {@code out}: with window auto-tuning negotiated, each side measures the
     * link's round trip with a few PINGs as soon as the connection is ready (WindowTuner.start).
     */
    private static ByteBuffer skipPings(final ByteBuffer out) {
        while (out.remaining() >= 28 && out.getInt(out.position() + 4) == Extension.PROGRAM
                && out.getInt(out.position() + 12) == Extension.PROC_PING) {
            out.position(out.position() + out.getInt(out.position()));
        }
        return out.slice();
    }

    @Test
    void aServerPipeNegotiatesAndAnswersACallAndAClientPipeConnects() throws Exception {
        final BufferPool pool;
        try (Braid braid = Braid.create(new BraidConfig().backend(InMemoryBackend.class.getName())
                .keepaliveInterval(Duration.ZERO).callbackExecutor(BraidConfig.DIRECT_CALLBACKS))) { // synchronous
            pool = braid.bufferPool();
            final InMemoryBackend backend = InMemoryBackend.last();
            braid.server().handle(ECHO, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING)
                    .bind(ADDRESS);

            final InMemoryBackend.Pipe server = backend.accept().record();
            server.feed(InMemoryBackend.frame(Extension.PROGRAM, Extension.VERSION, Extension.PROC_HELLO, TYPE_CALL, 7,
                    STATUS_OK, hello()), 5);
            server.pump();
            ByteBuffer out = ByteBuffer.wrap(server.recorded());
            assertThat(out.getInt(4)).as("prog").isEqualTo(Extension.PROGRAM);
            assertThat(out.getInt(16)).as("type").isEqualTo(TYPE_REPLY);
            assertThat(out.getInt(20)).as("serial").isEqualTo(7);
            assertThat(out.getInt(24)).as("status").isEqualTo(STATUS_OK);
            server.feed(InMemoryBackend.frame(0x1234, 1, 1, TYPE_CALL, 8, STATUS_OK, "hi!!".getBytes(StandardCharsets.UTF_8)), 3);
            server.pump();
            out = skipPings(ByteBuffer.wrap(server.recorded()));
            assertThat(out.getInt(0)).isEqualTo(32);
            assertThat(out.getInt(20)).isEqualTo(8);
            assertThat(new String(out.array(), 28, 4, StandardCharsets.UTF_8)).isEqualTo("hi!!");
            server.finish();

            final CompletableFuture<Connection> connecting = braid.connectAsync(ADDRESS);
            final InMemoryBackend.Pipe client = backend.takeConnected().record();
            client.pump();
            final ByteBuffer helloCall = ByteBuffer.wrap(client.recorded());
            assertThat(helloCall.getInt(4)).isEqualTo(Extension.PROGRAM);
            final int serial = helloCall.getInt(20);
            assertThat(serial).as("the HELLO serial the fuzzer's replies use most").isEqualTo(1);
            client.feed(InMemoryBackend.frame(Extension.PROGRAM, Extension.VERSION, Extension.PROC_HELLO, TYPE_REPLY,
                    serial, STATUS_OK, hello()), 7);
            assertThat(connecting).isCompleted();
            assertThat(connecting.join().extensionsNegotiated()).isTrue();
            client.finish();
            assertThat(connecting.join().isOpen()).isFalse();
        }
        LeakChecks.assertNoOutstandingBuffers(pool);
    }
}
