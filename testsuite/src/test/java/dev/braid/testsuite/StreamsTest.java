package dev.braid.testsuite;

import dev.braid.BraidException;
import dev.braid.BraidServer;
import dev.braid.BraidStream;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.RemoteException;
import dev.braid.StreamPacket;
import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StreamsTest extends TransportTest {
    static final int PROG = 0x5354524d; // "STRM"
    static final Procedure UPLOAD = Procedure.of(PROG, 1, 1);
    static final Procedure DOWNLOAD = Procedure.of(PROG, 1, 2);
    static final Procedure FAIL_AT_END = Procedure.of(PROG, 1, 3);

    /**
     * A deterministic pattern in which every 8-byte word encodes its stream and its offset, so a lost,
     * duplicated, reordered or corrupted byte anywhere is caught at the exact offset.
     */
    static final class Pattern {
        private final long id;
        private long offset;

        Pattern(final long id) {
            this.id = id;
        }

        static long word(final long id, final long offset) {
            return (id << 48) ^ offset ^ 0x5DEECE66DL;
        }

        void fill(final ByteBuffer b) {
            while (b.remaining() >= 8) {
                b.putLong(word(id, offset));
                offset += 8;
            }
        }

        /** Checks {@code b}'s remaining bytes (a multiple of 8 is not required across calls). */
        void check(final ByteBuffer b) {
            while (b.hasRemaining()) {
                final long w = word(id, offset & ~7L);
                final int shift = (7 - (int) (offset & 7)) * 8;
                final byte expected = (byte) (w >>> shift);
                final byte got = b.get();
                if (got != expected) {
                    throw new AssertionError("stream " + id + ": byte at offset " + offset + " is " + got
                            + ", expected " + expected);
                }
                offset++;
            }
        }

        long offset() {
            return offset;
        }
    }

    static void send(final BraidStream s, final long id, final long total) {
        final Pattern p = new Pattern(id);
        final ByteBuffer buf = ByteBuffer.allocateDirect(256 * 1024);
        long sent = 0;
        while (sent < total) {
            buf.clear();
            buf.limit((int) Math.min(buf.capacity(), total - sent));
            p.fill(buf);
            buf.flip();
            sent += buf.remaining();
            s.write(buf);
        }
    }

    static long receive(final BraidStream s, final long id) {
        final Pattern p = new Pattern(id);
        final ByteBuffer buf = ByteBuffer.allocateDirect(200_000);
        while (true) {
            buf.clear();
            final int n = s.read(buf);
            if (n == BraidStream.EOF) {
                return p.offset();
            }
            buf.flip();
            p.check(buf);
        }
    }

    private BraidServer streamingServer() {
        return streamingServer(config(true));
    }

    private BraidServer streamingServer(final dev.braid.BraidConfig config) {
        return server(config, s -> s
                .stream(UPLOAD, (call, stream) -> {
                    final ByteBuffer a = call.args();
                    final long id = a.getLong(0);
                    final long expected = a.getLong(8);
                    call.reply(new byte[0]);
                    final long got = receive(stream, id);
                    if (got != expected) {
                        throw new IllegalStateException("received " + got + " bytes, expected " + expected);
                    }
                    stream.finish();
                })
                .stream(DOWNLOAD, (call, stream) -> {
                    final ByteBuffer a = call.args();
                    final long id = a.getLong(0);
                    final long total = a.getLong(8);
                    call.reply(new byte[0]);
                    send(stream, id, total);
                    stream.finish();
                })
                .stream(FAIL_AT_END, (call, stream) -> {
                    call.reply(new byte[0]);
                    final long got = receive(stream, 7);
                    throw new IllegalStateException("disk full after " + got + " bytes");
                }));
    }

    private static ByteBuffer args(final long id, final long total) {
        return ByteBuffer.allocate(16).putLong(0, id).putLong(8, total);
    }

    @Test
    void uploadAndDownloadArriveIntact() throws Exception {
        final BraidServer server = streamingServer();
        final Connection c = connect(server);
        final long size = 64L << 20;
        final BraidStream up = c.openStream(UPLOAD, args(1, size), dev.braid.StreamOptions.DEFAULT);
        send(up, 1, size);
        up.finish();
        assertThat(up.bytesWritten()).isEqualTo(size);
        final BraidStream down = c.openStream(DOWNLOAD, args(2, size), dev.braid.StreamOptions.DEFAULT);
        assertThat(receive(down, 2)).isEqualTo(size);
        down.finish();
        assertThat(down.isOpen()).isFalse();
    }

    /**
     * Windows smaller than four maximal packets: 256 KiB writes become a maximal packet and a small tail, and
     * the receiver must return the tail's credit when its queue empties even though it is under the usual
     * quarter-window batch, or the sender, waiting for exactly that credit, stops for good (it did, before).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {4096, 65_536, 262_144, 300_000, 1 << 20})
    @org.junit.jupiter.api.Timeout(120)
    void smallWindowsNeverStallEitherDirection(final int window) throws Exception {
        final BraidServer server = streamingServer(config(true).initialStreamWindow(window));
        final Connection c = connect(config(false).initialStreamWindow(window), server);
        assertThat(c.limits().initialStreamWindow()).isEqualTo(window);
        final long size = 8L << 20;
        final BraidStream up = c.openStream(UPLOAD, args(21, size), dev.braid.StreamOptions.DEFAULT);
        send(up, 21, size);
        up.finish();
        final BraidStream down = c.openStream(DOWNLOAD, args(22, size), dev.braid.StreamOptions.DEFAULT);
        assertThat(receive(down, 22)).isEqualTo(size);
        down.finish();
    }

    /** 1 GiB each way, checked byte by byte. */
    @Test
    void oneGibibyteUploadAndDownloadArriveIntact() {
        final BraidServer server = streamingServer();
        final Connection c = connect(server);
        final long size = 1L << 30;
        final BraidStream up = c.openStream(UPLOAD, args(11, size), dev.braid.StreamOptions.DEFAULT);
        send(up, 11, size);
        up.finish();
        final BraidStream down = c.openStream(DOWNLOAD, args(12, size), dev.braid.StreamOptions.DEFAULT);
        assertThat(receive(down, 12)).isEqualTo(size);
        down.finish();
    }

    /**
     * 16 uploads and 16 downloads at once on one connection, each checked byte by byte: 256 MiB per stream where
     * both sides use the same backend (4 GiB each way: every byte count on the connection passes 2^32), 64 MiB
     * per stream across backends (the mix is what those pairings test). {@code -Dbraid.test.bigStreams=true}
     * runs the long form, 1 GiB per stream on every pairing (32 GiB a pairing: 48 s on an idle 2-core machine,
     * 8.5 minutes on a loaded one; the stress suite's {@code streams} scenario goes further). The streams are
     * waited for as long as bytes keep moving (a minute without any fails the test), and the test has a timeout
     * of its own, a last resort far above what load can make it take.
     */
    @Test
    @Timeout(value = 40, unit = TimeUnit.MINUTES)
    void sixteenGibibyteStreamsEachWayAtOnce() throws Exception {
        final BraidServer server = server(config(true).maxConcurrentStreams(64), s -> {
            final BraidServer.Builder b = s;
            b.stream(UPLOAD, (call, stream) -> {
                final long id = call.args().getLong(0);
                final long expected = call.args().getLong(8);
                call.reply(new byte[0]);
                if (receive(stream, id) != expected) {
                    throw new IllegalStateException("short upload " + id);
                }
                stream.finish();
            }).stream(DOWNLOAD, (call, stream) -> {
                final long id = call.args().getLong(0);
                final long total = call.args().getLong(8);
                call.reply(new byte[0]);
                send(stream, id, total);
                stream.finish();
            });
        });
        final Connection c = connect(server);
        final long size = Boolean.getBoolean("braid.test.bigStreams") ? 1L << 30
                : pairing.client().equals(pairing.server()) ? 256L << 20 : 64L << 20;
        final List<CompletableFuture<Long>> all = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            final long upId = 100 + i;
            final long downId = 200 + i;
            all.add(CompletableFuture.supplyAsync(() -> {
                final BraidStream up = c.openStream(UPLOAD, args(upId, size), dev.braid.StreamOptions.DEFAULT);
                send(up, upId, size);
                up.finish();
                return up.bytesWritten();
            }, r -> Thread.ofVirtual().start(r)));
            all.add(CompletableFuture.supplyAsync(() -> {
                final BraidStream down = c.openStream(DOWNLOAD, args(downId, size), dev.braid.StreamOptions.DEFAULT);
                final long n = receive(down, downId);
                down.finish();
                return n;
            }, r -> Thread.ofVirtual().start(r)));
        }
        for (CompletableFuture<Long> f : all) {
            assertThat(Await.whileProgressing("the 32 streams end", f,
                    () -> c.stats().bytesRead() + c.stats().bytesWritten(), Duration.ofMinutes(1))).isEqualTo(size);
        }
    }

    @Test
    void finishReportsAServerErrorRaisedAfterTheLastByte() {
        final BraidServer server = streamingServer();
        final Connection c = connect(server);
        final BraidStream up = c.openStream(FAIL_AT_END, args(7, 0), dev.braid.StreamOptions.DEFAULT);
        send(up, 7, 1 << 20);
        assertThatThrownBy(up::finish).isInstanceOfSatisfying(RemoteException.class,
                e -> assertThat(e.remoteMessage()).contains("disk full after 1048576 bytes"));
        assertThat(up.isOpen()).isFalse();
    }

    @Test
    void zeroCopyPacketsBothWays() throws Exception {
        final BraidServer server = streamingServer();
        final Connection c = connect(server);
        final BraidStream down = c.openStream(DOWNLOAD, args(3, 1 << 20), dev.braid.StreamOptions.DEFAULT);
        final Pattern p = new Pattern(3);
        long total = 0;
        for (StreamPacket next = down.readPacket(); next != null; next = down.readPacket()) {
            try (StreamPacket packet = next) {
                total += packet.data().remaining();
                p.check(packet.data());
            }
        }
        assertThat(total).isEqualTo(1 << 20);
        down.finish();
    }
}
