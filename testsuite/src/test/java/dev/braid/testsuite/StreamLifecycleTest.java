package dev.braid.testsuite;

import dev.braid.BraidConfig;
import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.ConnectionClosedException;
import dev.braid.IncomingCall;
import dev.braid.LimitExceededException;
import dev.braid.Procedure;
import dev.braid.RemoteException;
import dev.braid.Reply;
import dev.braid.StreamListener;
import dev.braid.StreamOptions;
import dev.braid.StreamPacket;
import dev.braid.internal.wire.FrameHeader;
import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StreamLifecycleTest extends TransportTest {
    /** The window a 64 KiB data packet costs: its frame. */
    static final int PACKET_64K = 64 * 1024 + FrameHeader.HEADER_LENGTH;
    static final int PROG = 0x4c494645; // "LIFE"
    static final Procedure SINK = Procedure.of(PROG, 1, 1);       // reads until told to stop
    static final Procedure SOURCE = Procedure.of(PROG, 1, 2);     // writes forever
    static final Procedure ECHO = Procedure.of(PROG, 1, 3);       // console: echoes, non-blocking
    static final Procedure HOLD = Procedure.of(PROG, 1, 4);       // holds the stream until released
    static final Procedure PING = Procedure.of(PROG, 1, 5);       // a plain call
    static final Procedure SPARSE = Procedure.of(PROG, 1, 6);     // sends a mostly-hole image
    static final Procedure STALL = Procedure.of(PROG, 1, 7);      // accepts, never reads

    /** Console-like exchange of small writes on the non-blocking API: no thread per stream on either side. */
    @Test
    void bidirectionalEchoOnTheNonBlockingApi() throws Exception {
        final BraidServer server = server(s -> s.stream(ECHO, (call, stream) -> {
            call.reply(new byte[0]);
            stream.setListener(new StreamListener() {
                private final ByteBuffer pending = ByteBuffer.allocate(64 * 1024).flip();

                @Override
                public void onReadable(final BraidStream st) {
                    pump(st);
                }

                @Override
                public void onWritable(final BraidStream st) {
                    pump(st);
                }

                private void pump(final BraidStream st) {
                    while (true) {
                        if (pending.hasRemaining()) {
                            st.tryWrite(pending);
                            if (pending.hasRemaining()) {
                                return; // wait for onWritable
                            }
                        }
                        pending.clear();
                        final int n = st.tryRead(pending);
                        pending.flip();
                        if (n == BraidStream.EOF) {
                            Thread.ofVirtual().start(st::finish); // finishing waits: not on the I/O thread
                            return;
                        }
                        if (n == 0) {
                            return;
                        }
                    }
                }
            });
            // the handler returns at once: the listener keeps the stream alive
        }));
        final Connection c = connect(server);
        final BraidStream console = c.openStream(ECHO, new byte[0]);
        final StringBuilder echoed = new StringBuilder();
        final CountDownLatch gotAll = new CountDownLatch(1);
        final String[] lines = new String[200];
        final StringBuilder expected = new StringBuilder();
        for (int i = 0; i < lines.length; i++) {
            lines[i] = "line " + i + "\n";
            expected.append(lines[i]);
        }
        console.setListener(new StreamListener() {
            @Override
            public void onReadable(final BraidStream st) {
                final ByteBuffer b = ByteBuffer.allocate(4096);
                while (st.tryRead(b) > 0) {
                    b.flip();
                    echoed.append(StandardCharsets.UTF_8.decode(b));
                    b.clear();
                }
                if (echoed.length() >= expected.length()) {
                    gotAll.countDown();
                }
            }
        });
        for (String line : lines) {
            final ByteBuffer b = ByteBuffer.wrap(line.getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) {
                if (console.tryWrite(b) == 0) {
                    Thread.sleep(1);
                }
            }
        }
        assertThat(gotAll.await(20, TimeUnit.SECONDS)).isTrue();
        assertThat(echoed.toString()).isEqualTo(expected.toString());
        console.finish();
    }

    /** The client aborts mid-transfer with data queued both ways: the server's next read fails, all is freed. */
    @Test
    void clientAbortMidTransferReachesTheServerAndFreesEverything() throws Exception {
        final CompletableFuture<Throwable> serverSaw = new CompletableFuture<>();
        final BraidServer server = server(s -> s.stream(SOURCE, (call, stream) -> {
            call.reply(new byte[0]);
            final ByteBuffer chunk = ByteBuffer.allocate(256 * 1024);
            try {
                while (true) {
                    chunk.clear();
                    stream.write(chunk);
                    if (stream.tryRead(ByteBuffer.allocate(1)) == BraidStream.EOF) {
                        break;
                    }
                }
            } catch (BraidException e) {
                serverSaw.complete(e);
            }
        }).handle(PING, call -> call.reply(call.args())));
        final Connection c = connect(server);
        final BraidStream s = c.openStream(SOURCE, new byte[0]);
        final ByteBuffer b = ByteBuffer.allocate(100_000);
        s.read(b); // data is flowing
        s.write(ByteBuffer.allocate(200_000)); // and queued toward the server
        s.abort("user pressed ^C");
        assertThat(s.isOpen()).isFalse();
        assertThatThrownBy(() -> s.read(ByteBuffer.allocate(10))).isInstanceOf(BraidException.class)
                .hasMessageContaining("user pressed ^C");
        assertThat(serverSaw.get(10, TimeUnit.SECONDS)).isInstanceOf(BraidException.class)
                .hasMessageContaining("aborted by the peer");
        assertThat(c.call(PING, new byte[]{4})).containsExactly(4); // the connection carries on
    }

    /** The server aborts mid-transfer: the client's next write fails with the server's reason. */
    @Test
    void serverAbortMidTransferReachesTheClient() throws Exception {
        final BraidServer server = server(s -> s.stream(SINK, (call, stream) -> {
            call.reply(new byte[0]);
            stream.read(ByteBuffer.allocate(300_000));
            stream.abort("quota exceeded");
        }).handle(PING, IncomingCall::deferReply));
        final Connection c = connect(server);
        final BraidStream s = c.openStream(SINK, new byte[0]);
        assertThatThrownBy(() -> {
            final ByteBuffer chunk = ByteBuffer.allocate(256 * 1024);
            for (int i = 0; i < 10_000; i++) {
                chunk.clear();
                s.write(chunk);
            }
        }).isInstanceOfSatisfying(RemoteException.class, e -> assertThat(e.remoteMessage()).contains("quota exceeded"));
        assertThat(s.isOpen()).isFalse();
    }

    /** Losing the connection fails every open stream and pending call once, and leaks nothing. */
    @Test
    void disconnectMidStreamFailsEveryStreamAndCallOnce() throws Exception {
        final CountDownLatch started = new CountDownLatch(4);
        final BraidServer server = server(s -> s.stream(SOURCE, (call, stream) -> {
            call.reply(new byte[0]);
            started.countDown();
            final ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
            try {
                while (true) {
                    chunk.clear();
                    stream.write(chunk);
                }
            } catch (BraidException expected) {
                // the connection went
            }
        }).stream(SINK, (call, stream) -> {
            call.reply(new byte[0]);
            started.countDown();
            try {
                while (stream.read(ByteBuffer.allocate(65536)) >= 0) {
                    Thread.onSpinWait();
                }
            } catch (BraidException expected) {
                // the connection went
            }
        }).handle(PING, IncomingCall::deferReply));
        final Connection c = connect(server);
        final List<BraidStream> streams = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            streams.add(c.openStream(SOURCE, new byte[0]));
            streams.add(c.openStream(SINK, new byte[0]));
        }
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        final List<CompletableFuture<Reply>> calls = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            calls.add(c.callAsync(PING, new byte[0]));
        }
        final AtomicInteger errors = new AtomicInteger();
        final CountDownLatch moving = new CountDownLatch(streams.size());
        final List<Thread> users = new ArrayList<>();
        for (BraidStream st : streams) {
            users.add(Thread.ofVirtual().start(() -> {
                try {
                    moving.countDown();
                    while (true) {
                        if (st.serial() % 2 == 0) {
                            st.write(ByteBuffer.allocate(32 * 1024));
                        } else {
                            st.read(ByteBuffer.allocate(32 * 1024));
                        }
                    }
                } catch (BraidException e) {
                    errors.incrementAndGet();
                }
            }));
        }
        assertThat(moving.await(30, TimeUnit.SECONDS)).as("every stream's user is running").isTrue();
        server.close();
        for (Thread t : users) {
            t.join();
        }
        assertThat(errors.get()).isEqualTo(4);
        for (CompletableFuture<Reply> f : calls) {
            assertThat(f.handle((r, e) -> e).get(10, TimeUnit.SECONDS)).isInstanceOf(ConnectionClosedException.class);
        }
        for (BraidStream st : streams) {
            assertThat(st.isOpen()).isFalse();
            assertThatThrownBy(st::finish).isInstanceOf(ConnectionClosedException.class);
        }
    }

    /**
     * With extensions, a stream whose reader stopped delays neither calls nor other streams, and what the
     * connection holds for it stays within its window.
     */
    @Test
    void aStalledReaderStallsOnlyItsOwnStream() throws Exception {
        final int window = 1 << 20;
        final AtomicReference<BraidStream> stalled = new AtomicReference<>();
        final BraidServer server = server(config(true).initialStreamWindow(window), s -> s
                .stream(STALL, (call, stream) -> {
                    call.reply(new byte[0]);
                    stalled.set(stream);
                    stream.setListener(new StreamListener() { }); // keep it open, read nothing
                })
                .stream(SINK, (call, stream) -> {
                    call.reply(new byte[0]);
                    final ByteBuffer b = ByteBuffer.allocate(256 * 1024);
                    while (stream.read(b) >= 0) {
                        b.clear();
                    }
                    stream.finish();
                })
                .handle(PING, call -> call.reply(call.args())));
        final Connection c = connect(config(false).initialStreamWindow(window), server);
        assertThat(c.extensionsNegotiated()).isTrue();
        final BraidStream blocked = c.openStream(STALL, new byte[0]);
        final Thread writer = Thread.ofVirtual().start(() -> {
            try {
                while (true) {
                    blocked.write(ByteBuffer.allocate(64 * 1024)); // blocks once the window is used up
                }
            } catch (BraidException e) {
                // aborted at the end of the test
            }
        });
        Await.until("the server accepted the stalled stream", () -> stalled.get() != null);
        final BraidStream atServer = stalled.get();
        // the writer's 64 KiB packets fill the window until the next one does not fit: the writer is blocked
        Await.until("the stalled stream's window is used up", () -> atServer.queuedBytes() + PACKET_64K > window,
                () -> atServer.queuedBytes() + " bytes held at the server, " + blocked.bytesWritten() + " written");
        assertThat(blocked.bytesWritten()).as("written before the window closed").isGreaterThan(window / 2);
        // other work on the same connection proceeds
        for (int i = 0; i < 100; i++) {
            assertThat(c.call(PING, new byte[]{(byte) i})).containsExactly((byte) i);
        }
        final BraidStream other = c.openStream(SINK, new byte[0]);
        final ByteBuffer chunk = ByteBuffer.allocate(256 * 1024);
        for (int i = 0; i < 256; i++) { // 64 MiB through the same connection
            chunk.clear();
            other.write(chunk);
        }
        other.finish();
        assertThat(atServer.queuedBytes()).as("bytes held for the stalled stream").isLessThanOrEqualTo(window);
        assertThat(server.connections().get(0).stats().readSuspensions()).isZero();
        blocked.abort("test over");
        writer.join(10_000);
    }

    /**
     * A peer writing one-byte packets to a reader that does not read: each packet costs at least 512 bytes
     * of window, so what the receiver holds stays within its window in pooled memory too.
     */
    @Test
    void tinyPacketsCannotInflateWhatTheReceiverHolds() throws Exception {
        final int window = 64 * 1024;
        final AtomicReference<BraidStream> stalled = new AtomicReference<>();
        final CountDownLatch accepted = new CountDownLatch(1);
        final BraidServer server = server(config(true).initialStreamWindow(window), s -> s.stream(STALL, (call, stream) -> {
            call.reply(new byte[0]);
            stalled.set(stream);
            stream.setListener(new StreamListener() { });
            accepted.countDown();
        }));
        final Connection c = connect(config(false).initialStreamWindow(window), server);
        final BraidStream s = c.openStream(STALL, new byte[0]);
        assertThat(accepted.await(10, TimeUnit.SECONDS)).isTrue();
        final long poolBefore = pool.allocatedBytes();
        final Thread writer = Thread.ofVirtual().start(() -> {
            try {
                for (int i = 0; i < 100_000; i++) {
                    s.write(new byte[]{(byte) i}, 0, 1);
                }
            } catch (BraidException e) {
                // aborted below
            }
        });
        final BraidStream atServer = stalled.get();
        Await.until("the window is used up: no further 512-byte packet fits", () -> atServer.queuedBytes() + 512 > window,
                () -> atServer.queuedBytes() + " bytes held at the server");
        // the writer is now blocked on credit (a writer that was not would go on past the window)
        Await.during("what the receiver holds stays within its window", Duration.ofMillis(100), () ->
                        atServer.queuedBytes() <= window && s.bytesWritten() <= window / 512 + 64 // in flight + the ring's 64 slots
                                && pool.allocatedBytes() - poolBefore < 4L * window + (1 << 20),
                () -> atServer.queuedBytes() + " bytes held, " + s.bytesWritten() + " 1-byte packets written, "
                        + (pool.allocatedBytes() - poolBefore) + " bytes pooled");
        s.abort("test over");
        writer.join(10_000);
    }

    /** libvirt-compatible mode: a full stream queue stops the connection's reads, as libvirt does; memory stays bounded. */
    @Test
    void inCompatibleModeAFullStreamQueueStopsTheConnectionUntilItIsRead() throws Exception {
        final int window = 1 << 20;
        final Semaphore readPermits = new Semaphore(0);
        final AtomicReference<Long> received = new AtomicReference<>(0L);
        final BraidServer server = server(config(true).extensions(false).initialStreamWindow(window), s -> s
                .stream(SINK, (call, stream) -> {
                    call.reply(new byte[0]);
                    readPermits.acquire(); // the application does not read yet
                    final ByteBuffer b = ByteBuffer.allocate(256 * 1024);
                    long n = 0;
                    int r;
                    while ((r = stream.read(b)) >= 0) {
                        n += r;
                        b.clear();
                    }
                    received.set(n);
                    stream.finish();
                })
                .handle(PING, call -> call.reply(call.args())));
        final Connection c = connect(server);
        assertThat(c.extensionsNegotiated()).isFalse();
        final BraidStream s = c.openStream(SINK, new byte[0]);
        final Thread writer = Thread.ofVirtual().start(() -> {
            final ByteBuffer chunk = ByteBuffer.allocate(256 * 1024);
            for (int i = 0; i < 64; i++) {
                chunk.clear();
                s.write(chunk);
            }
            s.finish();
        });
        final dev.braid.Peer atServer = onlyConnection(server);
        Await.until("the connection stopped reading", () -> atServer.stats().streamReadSuspensions() > 0, atServer::stats);
        // a call now waits behind the unread stream, as in libvirt
        final CompletableFuture<Reply> call = c.callAsync(PING, new byte[]{1});
        Await.during("the call waits behind the unread stream", Duration.ofMillis(200), () -> !call.isDone(), call::toString);
        readPermits.release();
        call.get(10, TimeUnit.SECONDS).close();
        writer.join(20_000);
        assertThat(received.get()).isEqualTo(64L * 256 * 1024);
    }

    @Test
    void theStreamLimitFailsFastNamingItOrWaitsForAFreeSlot() throws Exception {
        // One gate per stream (its id is the call's argument): releasing "a" must finish a's handler, not
        // whichever handler happens to wait first (with one shared semaphore the test raced with itself).
        final Semaphore[] gates = {new Semaphore(0), new Semaphore(0), new Semaphore(0)};
        final BraidServer server = server(config(true).maxConcurrentStreams(2), s -> s.stream(HOLD, (call, stream) -> {
            final int id = call.args().get(0);
            call.reply(new byte[0]);
            gates[id].acquire();
            stream.finish();
        }));
        final Connection c = connect(server);
        assertThat(c.limits().maxConcurrentStreams()).isEqualTo(2);
        final BraidStream a = c.openStream(HOLD, new byte[]{0});
        final BraidStream b = c.openStream(HOLD, new byte[]{1});
        assertThat(c.stats().streamsOpen()).isEqualTo(2);
        assertThatThrownBy(() -> c.openStream(HOLD, new byte[]{2}))
                .isInstanceOfSatisfying(LimitExceededException.class, e -> {
                    assertThat(e.limit()).isEqualTo("maxConcurrentStreams");
                    assertThat(e.value()).isEqualTo(2);
                });
        final CompletableFuture<BraidStream> waiting = CompletableFuture.supplyAsync(
                () -> c.openStream(HOLD, ByteBuffer.wrap(new byte[]{2}), StreamOptions.waitForSlot(Duration.ofSeconds(20))),
                r -> Thread.ofVirtual().start(r));
        Await.until("the third open waits for a slot", () -> c.stats().streamsWaiting() == 1, c::stats);
        gates[0].release();
        a.finish();
        final BraidStream third = waiting.get(20, TimeUnit.SECONDS);
        gates[1].release();
        gates[2].release();
        b.finish();
        third.finish();
    }

    /**
     * Aborting and reopening as fast as possible never has more than the limit of server handlers alive. (The
     * 300 aborts are beyond maxPeerStreamAbortsPerWindow's default, which is turned off here: this test is about
     * the slots; PeerStreamAbortLimitTest is about that limit.)
     */
    @Test
    void rapidOpenAndAbortCannotExceedTheLimit() throws Exception {
        final AtomicInteger alive = new AtomicInteger();
        final AtomicInteger maxAlive = new AtomicInteger();
        final BraidConfig slots = config(true).maxConcurrentStreams(3).maxPeerStreamAbortsPerWindow(0)
                .maxStreamOpensPerSecond(0); // the slots are the subject: the open rate made this take 3 s a pairing
        final BraidServer server = server(slots, s -> s.stream(HOLD, (call, stream) -> {
            maxAlive.accumulateAndGet(alive.incrementAndGet(), Math::max);
            try {
                call.reply(new byte[0]);
                try {
                    stream.read(ByteBuffer.allocate(16)); // until the client's abort arrives
                } catch (BraidException expected) {
                    // aborted
                }
                Thread.sleep(2); // a handler that takes a moment to wind down
            } finally {
                alive.decrementAndGet();
            }
        }));
        final Connection c = connect(server);
        for (int i = 0; i < 300; i++) {
            final BraidStream st = c.openStream(HOLD, ByteBuffer.allocate(0), StreamOptions.waitForSlot(Duration.ofSeconds(10)));
            st.abort("again");
        }
        assertThat(maxAlive.get()).isLessThanOrEqualTo(3);
    }

    /** A 64 MiB image that is 99% hole crosses as a few packets and is rebuilt exactly. */
    @Test
    void sparseStreamsCrossAsHolesAndAreRebuiltExactly() throws Exception {
        final long size = 64L << 20;
        final byte[] island = "data between holes".getBytes(StandardCharsets.UTF_8);
        final BraidServer server = server(s -> s.stream(SPARSE, (call, stream) -> {
            call.reply(new byte[0]);
            long written = 0;
            while (written < size) {
                stream.write(island, 0, island.length);
                written += island.length;
                final long hole = Math.min(8L << 20, size - written);
                if (hole > 0) {
                    stream.sendHole(hole);
                    written += hole;
                }
            }
            stream.finish();
        }));
        final Connection c = connect(server);
        final long wireBefore = c.stats().bytesRead();
        final BraidStream s = c.openStream(SPARSE, new byte[0]);
        // rebuild through the InputStream adapter, which yields the holes as zeros
        long total = 0;
        long nonZero = 0;
        try (InputStream in = s.inputStream()) {
            final byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) {
                for (int i = 0; i < n; i++) {
                    if (buf[i] != 0) {
                        nonZero++;
                    }
                }
                total += n;
            }
        }
        s.finish();
        assertThat(total).isEqualTo(size);
        assertThat(nonZero).isEqualTo(8L * Arrays.stream(toInts(island)).filter(b -> b != 0).count());
        assertThat(c.stats().bytesRead() - wireBefore).as("bytes on the wire").isLessThan(4096);
        // and the packet API reports the holes themselves
        final BraidStream again = c.openStream(SPARSE, new byte[0]);
        long holes = 0;
        for (StreamPacket p = again.readPacket(); p != null; p = again.readPacket()) {
            try (StreamPacket packet = p) {
                if (packet.isHole()) {
                    holes += packet.holeLength();
                }
            }
        }
        again.finish();
        assertThat(holes).isEqualTo(size - 8L * island.length);
    }

    private static int[] toInts(final byte[] b) {
        final int[] r = new int[b.length];
        for (int i = 0; i < b.length; i++) {
            r[i] = b[i];
        }
        return r;
    }

    /** A peer that never completes the finish handshake: finish() fails after the timeout and aborts. */
    @Test
    void aFinishThePeerNeverCompletesFailsAfterTheTimeout() throws Exception {
        final CountDownLatch accepted = new CountDownLatch(1);
        final BraidServer server = server(s -> s.stream(STALL, (call, stream) -> {
            call.reply(new byte[0]);
            stream.setListener(new StreamListener() { }); // never finishes
            accepted.countDown();
        }));
        final Connection c = connect(config(false).streamFinishTimeout(Duration.ofMillis(300)), server);
        final BraidStream s = c.openStream(STALL, new byte[0]);
        assertThat(accepted.await(10, TimeUnit.SECONDS)).isTrue();
        assertThatThrownBy(s::finish).isInstanceOfSatisfying(BraidException.class, e -> {
            assertThat(e.category()).isEqualTo(BraidException.Category.TIMEOUT);
            assertThat(e.getMessage()).contains("did not complete the finish handshake within 300 ms");
        });
        assertThat(s.isOpen()).isFalse();
    }

    /** finish() keeps its timeout even when the send ring is full and the peer grants no credit. */
    @Test
    void finishTimesOutEvenWithAFullSendRing() throws Exception {
        final int window = 64 * 1024;
        final AtomicReference<BraidStream> stalled = new AtomicReference<>();
        final BraidServer server = server(config(true).initialStreamWindow(window), s -> s.stream(STALL,
                (call, stream) -> {
                    call.reply(new byte[0]);
                    stream.setListener(new StreamListener() { }); // never reads
                    stalled.set(stream);
                }));
        final Connection c = connect(config(false).streamFinishTimeout(Duration.ofMillis(300)), server);
        final BraidStream s = c.openStream(STALL, new byte[0]);
        Await.until("the server accepted the stream", () -> stalled.get() != null);
        final BraidStream atServer = stalled.get();
        final int chunkSize = 16 * 1024;
        final ByteBuffer chunk = ByteBuffer.allocate(chunkSize);
        // Write (acting in the condition) until the ring takes no more and the server holds the whole window, so
        // no credit will come: only then is the ring full for good.
        Await.until("the send ring is full and the peer's window used up", () -> {
            chunk.clear();
            return s.tryWrite(chunk) == 0 && atServer.queuedBytes() + chunkSize + FrameHeader.HEADER_LENGTH > window;
        }, () -> atServer.queuedBytes() + " bytes held at the server, " + s.bytesWritten() + " written");
        assertThatThrownBy(s::finish).isInstanceOfSatisfying(BraidException.class,
                e -> assertThat(e.category()).isEqualTo(BraidException.Category.TIMEOUT));
        assertThat(s.isOpen()).isFalse();
    }

    /** An interrupted reader stops at once (no busy loop), and the stream is aborted. */
    @Test
    void anInterruptedReaderStopsAndAbortsTheStream() throws Exception {
        final CountDownLatch accepted = new CountDownLatch(1);
        final BraidServer server = server(s -> s.stream(STALL, (call, stream) -> {
            call.reply(new byte[0]);
            stream.setListener(new StreamListener() { });
            accepted.countDown();
        }));
        final Connection c = connect(server);
        final BraidStream s = c.openStream(STALL, new byte[0]);
        assertThat(accepted.await(10, TimeUnit.SECONDS)).isTrue();
        final CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        final Thread reader = Thread.ofPlatform().start(() -> {
            try {
                s.read(ByteBuffer.allocate(10));
                outcome.complete(null);
            } catch (Throwable t) {
                outcome.complete(t);
            }
        });
        Await.until("the reader is blocked in read", () -> reader.getState() == Thread.State.WAITING
                || reader.getState() == Thread.State.TIMED_WAITING, reader::getState);
        reader.interrupt();
        assertThat(outcome.get(10, TimeUnit.SECONDS)).isInstanceOfSatisfying(BraidException.class, e -> {
            assertThat(e.category()).isEqualTo(BraidException.Category.CANCELLED);
            assertThat(e.getMessage()).contains("interrupted while reading");
        });
        assertThat(s.isOpen()).isFalse();
    }

    /** Many short downloads: EOF is reported only after the last byte, never instead of it. */
    @Test
    void manyShortDownloadsEndExactlyAtTheirLastByte() throws Exception {
        final BraidServer server = server(s -> s.stream(SOURCE, (call, stream) -> {
            call.reply(new byte[0]);
            final int len = call.args().getInt(0);
            final byte[] data = new byte[len];
            Arrays.fill(data, (byte) 7);
            stream.write(data, 0, len);
            stream.finish();
        }));
        final Connection c = connect(server);
        for (int i = 0; i < 300; i++) {
            final int len = 1 + (i * 7919) % 5000;
            final BraidStream s = c.openStream(SOURCE, ByteBuffer.allocate(4).putInt(0, len), StreamOptions.DEFAULT);
            final ByteBuffer b = ByteBuffer.allocate(8192);
            int total = 0;
            int n;
            while ((n = s.read(b)) != BraidStream.EOF) {
                total += n;
            }
            assertThat(total).as("download %d", i).isEqualTo(len);
            s.finish();
        }
    }

    /** An open interrupted while its call still waits for a call slot frees its stream slot at once. */
    @Test
    void anOpenInterruptedBeforeItsCallLeftFreesItsSlotAtOnce() throws Exception {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final BraidServer server = server(config(true).maxOutstandingCalls(1), s -> s
                .handle(PING, call -> {
                    entered.countDown();
                    release.await();
                    call.reply(new byte[0]);
                })
                .stream(HOLD, (call, stream) -> {
                    call.reply(new byte[0]);
                    stream.finish();
                }));
        final Connection c = connect(server);
        final CompletableFuture<Reply> busy = c.callAsync(PING, new byte[0]); // takes the only call slot
        assertThat(entered.await(10, TimeUnit.SECONDS)).isTrue();
        final CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        final Thread opener = Thread.ofPlatform().start(() -> {
            try {
                c.openStream(HOLD, new byte[0]);
                outcome.complete(null);
            } catch (Throwable t) {
                outcome.complete(t);
            }
        });
        Await.until("the open's call waits for the call slot", () -> c.stats().callsQueued() > 0, c::stats);
        opener.interrupt();
        assertThat(outcome.get(10, TimeUnit.SECONDS)).isInstanceOfSatisfying(BraidException.class,
                e -> assertThat(e.category()).isEqualTo(BraidException.Category.CANCELLED));
        assertThat(c.stats().streamsOpen()).as("slot freed at once").isZero();
        assertThat(c.stats().callsQueued()).isZero();
        release.countDown();
        busy.get(10, TimeUnit.SECONDS).close();
    }

    /** libvirt's virStreamSendAll / RecvAll: pump a source into the stream and the stream into a sink. */
    @Test
    void sendAllAndReceiveAllPumpThroughCallbacksAndFinish() throws Exception {
        final CompletableFuture<Long> serverGot = new CompletableFuture<>();
        final java.util.zip.CRC32C serverSum = new java.util.zip.CRC32C();
        final BraidServer server = server(s -> s.stream(SINK, (call, stream) -> {
            call.reply(new byte[0]);
            serverGot.complete(stream.receiveAll(serverSum::update)); // after its finish: the client may be ahead
        }).stream(SOURCE, (call, stream) -> {
            call.reply(new byte[0]);
            final java.util.Random r = new java.util.Random(9);
            final long[] left = {10_000_000};
            stream.sendAll(dst -> {
                if (left[0] == 0) {
                    return -1;
                }
                final int n = (int) Math.min(dst.remaining(), left[0]);
                final byte[] b = new byte[n];
                r.nextBytes(b);
                dst.put(b);
                left[0] -= n;
                return n;
            });
        }));
        final Connection c = connect(server);
        final java.util.zip.CRC32C sent = new java.util.zip.CRC32C();
        final java.util.Random r = new java.util.Random(5);
        final long[] left = {12_345_678};
        final BraidStream up = c.openStream(SINK, new byte[0]);
        assertThat(up.sendAll(dst -> {
            if (left[0] == 0) {
                return -1;
            }
            final int n = (int) Math.min(dst.remaining(), left[0]);
            final byte[] b = new byte[n];
            r.nextBytes(b);
            sent.update(b);
            dst.put(b);
            left[0] -= n;
            return n;
        })).isEqualTo(12_345_678);
        assertThat(serverGot.get(10, TimeUnit.SECONDS)).isEqualTo(12_345_678);
        assertThat(serverSum.getValue()).isEqualTo(sent.getValue());
        final java.util.zip.CRC32C got = new java.util.zip.CRC32C();
        final BraidStream down = c.openStream(SOURCE, new byte[0]);
        assertThat(down.receiveAll(got::update)).isEqualTo(10_000_000);
        final java.util.zip.CRC32C expected = new java.util.zip.CRC32C();
        final java.util.Random again = new java.util.Random(9);
        long n = 10_000_000;
        while (n > 0) {
            final byte[] b = new byte[(int) Math.min(256 * 1024, n)];
            again.nextBytes(b);
            expected.update(b);
            n -= b.length;
        }
        assertThat(got.getValue()).isEqualTo(expected.getValue());
    }

    /** A failing source aborts the stream with its message; the server's read sees the abort. */
    @Test
    void aFailingSourceAbortsTheStream() throws Exception {
        final CompletableFuture<Throwable> serverSaw = new CompletableFuture<>();
        final BraidServer server = server(s -> s.stream(SINK, (call, stream) -> {
            call.reply(new byte[0]);
            try {
                stream.receiveAll(b -> { });
            } catch (BraidException e) {
                serverSaw.complete(e);
            }
        }));
        final Connection c = connect(server);
        final BraidStream up = c.openStream(SINK, new byte[0]);
        final int[] calls = {0};
        assertThatThrownBy(() -> up.sendAll(dst -> {
            if (++calls[0] == 3) {
                throw new java.io.IOException("disk read error");
            }
            dst.put(new byte[1000]);
            return 1000;
        })).isInstanceOf(BraidException.class).hasMessageContaining("disk read error");
        assertThat(serverSaw.get(10, TimeUnit.SECONDS)).hasMessageContaining("aborted by the peer");
    }

    @Test
    void outputStreamAndChannelAdaptersCarryTheBytes() throws Exception {
        final AtomicReference<byte[]> got = new AtomicReference<>();
        final BraidServer server = server(s -> s.stream(SINK, (call, stream) -> {
            call.reply(new byte[0]);
            final java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
            final java.nio.channels.ReadableByteChannel ch = stream.readableChannel();
            final ByteBuffer b = ByteBuffer.allocate(1000);
            while (ch.read(b) >= 0) {
                b.flip();
                all.write(b.array(), 0, b.limit());
                b.clear();
            }
            got.set(all.toByteArray());
            stream.finish();
        }));
        final Connection c = connect(server);
        final BraidStream s = c.openStream(SINK, new byte[0]);
        final java.nio.channels.WritableByteChannel w = s.writableChannel();
        w.write(ByteBuffer.wrap("channel,".getBytes(StandardCharsets.UTF_8)));
        try (java.io.OutputStream out = s.outputStream()) { // close() finishes the stream
            out.write('x');
            out.write(",stream".getBytes(StandardCharsets.UTF_8));
        }
        assertThat(new String(got.get(), StandardCharsets.UTF_8)).isEqualTo("channel,x,stream");
        assertThat(s.bytesWritten()).isEqualTo(got.get().length);
        assertThat(s.isOpen()).isFalse();
    }

    @Test
    void aStreamNobodyReadsIsAbortedAfterTheIdleTimeoutWhenConfigured() throws Exception {
        final AtomicReference<BraidStream> atServer = new AtomicReference<>();
        final CountDownLatch accepted = new CountDownLatch(1);
        final BraidServer server = server(config(true).streamReadIdleTimeout(Duration.ofMillis(200)),
                s -> s.stream(STALL, (call, stream) -> {
                    call.reply(new byte[0]);
                    atServer.set(stream);
                    stream.setListener(new StreamListener() { });
                    accepted.countDown();
                }));
        final Connection c = connect(server);
        final BraidStream s = c.openStream(STALL, new byte[0]);
        assertThat(accepted.await(10, TimeUnit.SECONDS)).isTrue();
        s.write(ByteBuffer.allocate(1000));
        assertThatThrownBy(() -> {
            for (int i = 0; i < 1000; i++) {
                s.write(ByteBuffer.allocate(1000));
                Thread.sleep(10);
            }
        }).isInstanceOfSatisfying(RemoteException.class,
                e -> assertThat(e.remoteMessage()).contains("nobody read the stream for 200 ms"));
        assertThat(atServer.get().isOpen()).isFalse();
    }
}
