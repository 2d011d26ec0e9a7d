package dev.braid.testsuite;

import dev.braid.BlockingOperationException;
import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.CallOptions;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.LimitExceededException;
import dev.braid.Procedure;
import dev.braid.ProcedureDescriptor;
import dev.braid.RemoteException;
import dev.braid.ReplyHandler;
import dev.braid.StreamListener;
import dev.braid.StreamOptions;
import dev.braid.StreamPacket;
import dev.braid.xdr.XdrCodec;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32C;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Streams for real protocols (issue 15): the opening reply, results, half-close, the non-blocking forms
 * (openStreamAsync, finishAsync, tryReadPacket), writes of caller-owned buffers, typed stream procedures,
 * and handlers that leave their stream to braid. Over every backend pairing, ending with no pooled buffer
 * out (which also proves every caller-owned buffer's release callback ran).
 */
class StreamApiTest extends TransportTest {
    static final int PROG = 0x7374_6170; // "stap"
    /** Opening reply "image/png" (a libvirt screenshot's shape), then the bytes, then the server's EOF. */
    static final Procedure SHOT = Procedure.of(PROG, 1, 1);
    /** Upper-cases what it reads until the client's EOF, then finishes with the byte count as its result. */
    static final ProcedureDescriptor<String, String> UPPER = ProcedureDescriptor.of(Procedure.of(PROG, 1, 2),
            XdrCodec.STRING, XdrCodec.STRING);
    /** Reads everything, checksums it, finishes with the CRC as a raw 8-byte result. */
    static final Procedure CRC = Procedure.of(PROG, 1, 3);
    /** Non-blocking handler: accepts later (deferred), drains with tryReadPacket, finishes with finishAsync. */
    static final Procedure ASYNC_SINK = Procedure.of(PROG, 1, 4);
    /** Finishes at once without a result (as a libvirt daemon does). */
    static final Procedure PLAIN = Procedure.of(PROG, 1, 5);
    static final Procedure PING = Procedure.of(PROG, 1, 6);

    private static byte[] pattern(final int n, final int seed) {
        final byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    private static long crc(final byte[]... parts) {
        final CRC32C c = new CRC32C();
        for (byte[] p : parts) {
            c.update(p);
        }
        return c.getValue();
    }

    private BraidServer streamServer() {
        return server(s -> s
                .stream(SHOT, (call, stream) -> {
                    call.reply(XdrCodec.OPTIONAL_STRING, "image/png");
                    stream.write(ByteBuffer.wrap(pattern(100_000, 1)));
                    stream.finish();
                })
                .stream(UPPER, (prefix, call, stream) -> {
                    call.reply(XdrCodec.STRING, "ready for " + prefix);
                    final ByteBuffer b = ByteBuffer.allocate(4096);
                    long n = 0;
                    int r;
                    while ((r = stream.read(b)) != BraidStream.EOF) { // until the client's half-close
                        n += r;
                        b.flip();
                        final String up = StandardCharsets.UTF_8.decode(b).toString().toUpperCase();
                        stream.write(ByteBuffer.wrap((prefix + up).getBytes(StandardCharsets.UTF_8)));
                        b.clear();
                    }
                    stream.finish(XdrCodec.HYPER, n); // EOF, the client's OK, then our OK carrying n
                })
                .stream(CRC, (call, stream) -> {
                    call.reply(new byte[0]);
                    final CRC32C c = new CRC32C();
                    stream.receiveAll(c::update); // receiveAll's own finish carries no result ...
                }, HandlerMode.BLOCKING)
                .stream(ASYNC_SINK, (call, stream) -> {
                    call.deferReply(); // accepted below, from another thread: the stream stays ours
                    final CRC32C c = new CRC32C();
                    stream.setListener(new StreamListener() {
                        @Override
                        public void onReadable(final BraidStream st) {
                            StreamPacket p;
                            while ((p = st.tryReadPacket()) != null) {
                                if (p == StreamPacket.EOF) {
                                    st.setListener(null);
                                    st.finishAsync(ByteBuffer.allocate(8).putLong(0, c.getValue()));
                                    return;
                                }
                                try (StreamPacket held = p) {
                                    c.update(held.data());
                                }
                            }
                        }
                    });
                    Thread.ofVirtual().start(() -> call.reply(new byte[]{1, 2, 3, 4}));
                }, HandlerMode.NON_BLOCKING)
                .stream(PLAIN, (call, stream) -> {
                    call.reply(new byte[0]);
                    stream.finish();
                })
                .handle(PING, call -> call.reply(call.args()), HandlerMode.NON_BLOCKING));
    }

    /** The opening reply's payload is kept on the stream (the issue's lost screenshot MIME type). */
    @Test
    void theOpeningReplyIsKept() throws Exception {
        final Connection c = connect(streamServer());
        final BraidStream s = c.openStream(SHOT, new byte[0]);
        assertThat(s.openingReply(XdrCodec.OPTIONAL_STRING)).isEqualTo("image/png");
        assertThat(s.openingReply().remaining()).isEqualTo(XdrCodec.OPTIONAL_STRING.size("image/png"));
        final ByteBuffer all = ByteBuffer.allocate(200_000);
        while (s.read(all) != BraidStream.EOF) {
            assertThat(all.hasRemaining()).isTrue();
        }
        assertThat(all.position()).isEqualTo(100_000);
        assertThat(java.util.Arrays.copyOf(all.array(), 100_000)).isEqualTo(pattern(100_000, 1));
        s.finish();
        assertThat(s.openingReply(XdrCodec.OPTIONAL_STRING)).as("still readable after the end").isEqualTo("image/png");
        // a typed stream: the request encoded, the opening reply decoded with the descriptor's marshaller
        final BraidStream t = c.openStream(UPPER, "> ", StreamOptions.DEFAULT);
        assertThat(t.openingReply(UPPER.reply())).isEqualTo("ready for > ");
        t.abort("not needed");
    }

    /**
     * Half-close: the client sends, closes its side, keeps reading the server's answer to the server's
     * EOF, then finishes and gets the server's result. Nothing sent after the client's half-close is lost.
     */
    @Test
    void halfCloseThenReadToTheEndThenTheResult() {
        final Connection c = connect(streamServer());
        for (int round = 0; round < 3; round++) {
            final BraidStream s = c.openStream(UPPER, "#" + round + ":", StreamOptions.DEFAULT);
            final StringBuilder sent = new StringBuilder();
            for (int i = 0; i < 50; i++) {
                final String line = "line " + i + " of round " + round + "\n";
                sent.append(line);
                s.write(ByteBuffer.wrap(line.getBytes(StandardCharsets.UTF_8)));
            }
            s.closeWrite();
            assertThatThrownBy(() -> s.write(ByteBuffer.allocate(1))).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("closed for writing");
            s.closeWrite(); // idempotent
            final StringBuilder got = new StringBuilder();
            final ByteBuffer b = ByteBuffer.allocate(1000);
            while (s.read(b) != BraidStream.EOF) {
                b.flip();
                got.append(StandardCharsets.UTF_8.decode(b));
                b.clear();
            }
            assertThat(got.toString().replace("#" + round + ":", "")).isEqualTo(sent.toString().toUpperCase());
            assertThat(s.finish(XdrCodec.HYPER)).isEqualTo((long) sent.length());
            assertThat(s.isOpen()).isFalse();
        }
        assertThat(c.stats().framesDropped()).isZero();
    }

    /** A server that sends no result (a libvirt daemon never does): the typed finish returns null. */
    @Test
    void noResultIsNullAndResultsOnlyFlowFromTheServer() throws Exception {
        final Connection c = connect(streamServer());
        final BraidStream s = c.openStream(PLAIN, new byte[0]);
        assertThatThrownBy(() -> s.finish(ByteBuffer.allocate(4))).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("only the server's finish carries a result");
        assertThat(s.finish(XdrCodec.HYPER)).isNull();
        final BraidStream t = c.openStream(PLAIN, new byte[0]);
        assertThat(t.finishAsync().get(30, TimeUnit.SECONDS).remaining()).isZero();
        // a blocking finish() drops a result it is not asked for, without leaking it
        final BraidStream u = c.openStream(UPPER, "", StreamOptions.DEFAULT);
        u.write(ByteBuffer.wrap(new byte[]{'a'}));
        u.closeWrite();
        while (u.read(ByteBuffer.allocate(16)) != BraidStream.EOF) {
            // drain
        }
        u.finish();
    }

    /** The non-blocking server style end to end, and the client's finishAsync getting the raw result. */
    @Test
    void aNonBlockingHandlerThatReturnsEarlyFinishesAsynchronouslyWithAResult() throws Exception {
        final Connection c = connect(streamServer());
        for (int round = 0; round < 3; round++) {
            final BraidStream s = c.openStream(ASYNC_SINK, new byte[0]);
            assertThat(s.openingReply()).isEqualTo(ByteBuffer.wrap(new byte[]{1, 2, 3, 4}));
            final byte[] a = pattern(300_000, round);
            final byte[] b = pattern(70_001, round + 7);
            s.write(ByteBuffer.wrap(a));
            s.write(ByteBuffer.wrap(b));
            s.closeWrite(); // the handler's listener sees EOF and finishes with finishAsync
            final ByteBuffer result = s.finishAsync().get(30, TimeUnit.SECONDS);
            assertThat(result.remaining()).isEqualTo(8);
            assertThat(result.getLong(0)).isEqualTo(crc(a, b));
            assertThat(s.isOpen()).isFalse();
        }
    }

    /** openStreamAsync from an I/O thread (inside a reply handler), where the blocking openStream refuses. */
    @Test
    void openStreamAsyncWorksOnIoThreadsWhereOpenStreamRefuses() throws Exception {
        // the direct form (issue 14 §3 made the callback executor the default): the handler runs on I/O
        final Connection c = connect(config(false).callbackExecutor(dev.braid.BraidConfig.DIRECT_CALLBACKS), streamServer());
        final LinkedBlockingQueue<Object> got = new LinkedBlockingQueue<>();
        c.callAsync(PING, ByteBuffer.allocate(1), CallOptions.DEFAULT, new ReplyHandler() {
            @Override
            public void onReply(final Procedure p, final int serial, final ByteBuffer payload, final Object attachment) {
                try {
                    c.openStream(SHOT, new byte[0]);
                    got.add("openStream ran on an I/O thread");
                } catch (BlockingOperationException e) {
                    got.add(e);
                }
                c.openStreamAsync(SHOT, ByteBuffer.allocate(0), StreamOptions.DEFAULT)
                        .whenComplete((s, e) -> got.add(e != null ? e : s));
            }

            @Override
            public void onFailure(final Procedure p, final int serial, final BraidException error, final Object attachment) {
                got.add(error);
            }
        }, null);
        assertThat(got.poll(30, TimeUnit.SECONDS)).isInstanceOf(BlockingOperationException.class);
        final Object opened = got.poll(30, TimeUnit.SECONDS);
        assertThat(opened).isInstanceOf(BraidStream.class);
        final BraidStream s = (BraidStream) opened;
        assertThat(s.openingReply(XdrCodec.OPTIONAL_STRING)).isEqualTo("image/png");
        final ByteBuffer sink = ByteBuffer.allocate(200_000);
        while (s.read(sink) != BraidStream.EOF) {
            assertThat(sink.hasRemaining()).isTrue();
        }
        s.finish();
        // typed and refused forms
        final BraidStream t = c.openStreamAsync(UPPER, "x", StreamOptions.DEFAULT).get(30, TimeUnit.SECONDS);
        assertThat(t.openingReply(UPPER.reply())).isEqualTo("ready for x");
        t.abort("done");
        final CompletableFuture<BraidStream> refused = c.openStreamAsync(Procedure.of(PROG, 1, 99),
                ByteBuffer.allocate(0), StreamOptions.DEFAULT);
        assertThatThrownBy(() -> refused.get(30, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .cause().isInstanceOf(RemoteException.class);
    }

    /** Without a free slot: fails fast naming the limit, or waits for one off the caller's thread. */
    @Test
    void openStreamAsyncFailsFastOrWaitsForASlotWithoutBlocking() throws Exception {
        final BraidServer server = server(config(true).maxConcurrentStreams(1), s -> s.stream(PLAIN, (call, stream) -> {
            call.reply(new byte[0]);
            stream.finish();
        }));
        final Connection c = connect(server);
        final BraidStream first = c.openStream(PLAIN, new byte[0]);
        final CompletableFuture<BraidStream> fast = c.openStreamAsync(PLAIN, ByteBuffer.allocate(0), StreamOptions.DEFAULT);
        assertThatThrownBy(() -> fast.get(30, TimeUnit.SECONDS)).cause().isInstanceOfSatisfying(
                LimitExceededException.class, e -> assertThat(e.limit()).isEqualTo("maxConcurrentStreams"));
        final CompletableFuture<BraidStream> waiting = c.openStreamAsync(PLAIN, ByteBuffer.allocate(0),
                StreamOptions.waitForSlot(Duration.ofSeconds(30)));
        assertThat(waiting).isNotDone(); // returned at once; the wait happens elsewhere
        first.finish(); // frees the slot once the server's handler is done too
        final BraidStream second = waiting.get(30, TimeUnit.SECONDS);
        second.finish();
    }

    /** tryReadPacket: zero copy without blocking, null while nothing is there, EOF at the end. */
    @Test
    void tryReadPacketNeverBlocksAndEndsWithEof() throws Exception {
        final Connection c = connect(streamServer());
        final BraidStream s = c.openStream(SHOT, new byte[0]);
        final CRC32C got = new CRC32C();
        final CountDownLatch end = new CountDownLatch(1);
        final AtomicInteger total = new AtomicInteger();
        s.setListener(new StreamListener() {
            @Override
            public void onReadable(final BraidStream st) {
                StreamPacket p;
                while ((p = st.tryReadPacket()) != null) {
                    if (p == StreamPacket.EOF) {
                        end.countDown();
                        return;
                    }
                    try (StreamPacket held = p) {
                        total.addAndGet(held.data().remaining());
                        got.update(held.data());
                    }
                }
            }
        });
        assertThat(end.await(30, TimeUnit.SECONDS)).isTrue();
        assertThat(total.get()).isEqualTo(100_000);
        assertThat(got.getValue()).isEqualTo(crc(pattern(100_000, 1)));
        assertThat(s.tryReadPacket()).isSameAs(StreamPacket.EOF);
        s.setListener(null);
        s.finishAsync().get(30, TimeUnit.SECONDS);
    }

    /**
     * Caller-owned buffers go out without a copy, split at the packet maximum, and the release callback
     * runs exactly once, after the last of their packets was written (or dropped).
     */
    @Test
    void callerOwnedBuffersAreSentUncopiedAndReleasedOnce() throws Exception {
        final Connection c = connect(streamServer());
        final BraidStream s = c.openStream(CRC, new byte[0]);
        final int max = s.maxPacketSize();
        assertThat(max).isBetween(1, 262_120);
        final byte[][] parts = {pattern(3 * max + 17, 3), pattern(5, 4), pattern(max, 5), pattern(200, 6)};
        final AtomicInteger released = new AtomicInteger();
        final CountDownLatch allReleased = new CountDownLatch(parts.length);
        for (int i = 0; i < parts.length; i++) {
            final ByteBuffer own = ByteBuffer.allocateDirect(parts[i].length + 10);
            own.position(10);
            own.put(parts[i]).flip().position(10); // the bytes from position 10 on
            if (i == 1) {
                final ByteBuffer heap = ByteBuffer.wrap(parts[i]);
                final java.util.concurrent.atomic.AtomicBoolean heapReleased = new java.util.concurrent.atomic.AtomicBoolean();
                s.write(heap, () -> {
                    heapReleased.set(true);
                    released.incrementAndGet();
                    allReleased.countDown();
                });
                assertThat(heapReleased).as("a heap buffer is copied and released at once").isTrue();
                continue;
            }
            s.write(own, () -> {
                released.incrementAndGet();
                allReleased.countDown();
            });
            assertThat(own.hasRemaining()).isFalse();
        }
        assertThat(allReleased.await(30, TimeUnit.SECONDS)).isTrue();
        assertThat(released.get()).isEqualTo(parts.length);
        s.finish();
        // the server received exactly the bytes: its receiveAll finished cleanly, check through a second stream
        final BraidStream check = c.openStream(ASYNC_SINK, new byte[0]);
        for (byte[] p : parts) {
            final ByteBuffer own = ByteBuffer.allocateDirect(p.length).put(p).flip();
            check.write(own, () -> { });
        }
        check.closeWrite();
        assertThat(check.finishAsync().get(30, TimeUnit.SECONDS).getLong(0)).isEqualTo(crc(parts));
    }

    /** An abort releases caller-owned buffers still queued: the callback runs, the memory is the caller's again. */
    @Test
    void anAbortReleasesCallerOwnedBuffersStillQueued() throws Exception {
        final CountDownLatch accepted = new CountDownLatch(1);
        final BraidServer server = server(config(true).initialStreamWindow(4096), s -> s.stream(PLAIN, (call, stream) -> {
            call.reply(new byte[0]);
            stream.setListener(new StreamListener() { }); // never reads: the window closes at once
            accepted.countDown();
        }, HandlerMode.NON_BLOCKING));
        final Connection c = connect(config(false).initialStreamWindow(4096), server);
        final BraidStream s = c.openStream(PLAIN, new byte[0]);
        assertThat(accepted.await(10, TimeUnit.SECONDS)).isTrue();
        final AtomicInteger released = new AtomicInteger();
        for (int i = 0; i < 20; i++) {
            s.write(ByteBuffer.allocateDirect(1000), released::incrementAndGet);
        }
        assertThat(released.get()).as("most are still queued behind the closed window").isLessThan(20);
        s.abort("test over");
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (released.get() < 20 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertThat(released.get()).isEqualTo(20);
    }

    /** The zero-copy PayloadWriter form names the maximum when asked for more than one packet. */
    @Test
    void aZeroCopyPacketAboveTheMaximumNamesIt() {
        final Connection c = connect(streamServer());
        final BraidStream s = c.openStream(CRC, new byte[0]);
        final int max = s.maxPacketSize();
        assertThatThrownBy(() -> s.write(262_144, dst -> dst.put(new byte[262_144])))
                .isInstanceOfSatisfying(LimitExceededException.class, e -> {
                    assertThat(e.limit()).isEqualTo("maxStreamPacket");
                    assertThat(e.value()).isEqualTo(max);
                    assertThat(e).hasMessageContaining(max + " bytes").hasMessageContaining("262144 bytes");
                });
        s.write(max, dst -> dst.put(new byte[max]));
        s.finish();
    }

    /**
     * The issue's last non-blocking wall: a handler that returns with its stream open and no listener is not
     * aborted when it left the stream's end to braid (finishAsync) or deferred its answer (and so the stream).
     */
    @Test
    void aHandlerMayLeaveItsStreamToFinishAsyncOrToADeferredAnswer() throws Exception {
        final Procedure quick = Procedure.of(PROG, 1, 20);
        final Procedure later = Procedure.of(PROG, 1, 21);
        final BraidServer server = server(s -> s
                .stream(quick, (call, stream) -> {
                    call.reply(new byte[0]);
                    stream.tryWrite(ByteBuffer.wrap("short answer".getBytes(StandardCharsets.UTF_8)));
                    stream.finishAsync(ByteBuffer.wrap(new byte[]{7})); // EOF now; OK once the client's OK came
                }, HandlerMode.NON_BLOCKING)
                .stream(later, (call, stream) -> {
                    call.deferReply(); // the stream lives on without this handler
                    Thread.ofVirtual().start(() -> {
                        call.reply(new byte[]{9});
                        stream.write(ByteBuffer.wrap("from elsewhere".getBytes(StandardCharsets.UTF_8)));
                        stream.finish();
                    });
                }, HandlerMode.NON_BLOCKING));
        final Connection c = connect(server);
        for (Procedure p : List.of(quick, later)) {
            final BraidStream s = c.openStream(p, new byte[0]);
            final ByteBuffer b = ByteBuffer.allocate(100);
            while (s.read(b) != BraidStream.EOF) {
                assertThat(b.hasRemaining()).isTrue();
            }
            final String text = new String(b.array(), 0, b.position(), StandardCharsets.UTF_8);
            final ByteBuffer result = s.finishAsync().get(30, TimeUnit.SECONDS);
            if (p == quick) {
                assertThat(text).isEqualTo("short answer");
                assertThat(result).isEqualTo(ByteBuffer.wrap(new byte[]{7}));
            } else {
                assertThat(s.openingReply()).isEqualTo(ByteBuffer.wrap(new byte[]{9}));
                assertThat(text).isEqualTo("from elsewhere");
                assertThat(result.remaining()).isZero();
            }
        }
    }

    /** The server's half-close: it ends its data early and keeps reading the client's until the client's finish. */
    @Test
    void theServerCanHalfCloseToo() throws Exception {
        final CompletableFuture<String> serverRead = new CompletableFuture<>();
        final BraidServer server = server(s -> s.stream(PLAIN, (call, stream) -> {
            call.reply(new byte[0]);
            stream.write(ByteBuffer.wrap("banner".getBytes(StandardCharsets.UTF_8)));
            stream.closeWrite(); // EOF now; still reading
            final ByteBuffer b = ByteBuffer.allocate(100);
            while (stream.read(b) != BraidStream.EOF) {
                assertThat(b.hasRemaining()).isTrue();
            }
            serverRead.complete(new String(b.array(), 0, b.position(), StandardCharsets.UTF_8));
            stream.finish(ByteBuffer.wrap(new byte[]{42}));
        }));
        final Connection c = connect(server);
        final BraidStream s = c.openStream(PLAIN, new byte[0]);
        final ByteBuffer b = ByteBuffer.allocate(100);
        while (s.read(b) != BraidStream.EOF) {
            assertThat(b.hasRemaining()).isTrue();
        }
        assertThat(new String(b.array(), 0, b.position(), StandardCharsets.UTF_8)).isEqualTo("banner");
        s.write(ByteBuffer.wrap("reply after the server's EOF".getBytes(StandardCharsets.UTF_8)));
        final ByteBuffer result = s.finishAsync().get(30, TimeUnit.SECONDS); // our OK ends our data
        assertThat(serverRead.get(30, TimeUnit.SECONDS)).isEqualTo("reply after the server's EOF");
        assertThat(result).isEqualTo(ByteBuffer.wrap(new byte[]{42}));
        assertThat(List.of(s.isOpen())).containsExactly(false);
    }
}
