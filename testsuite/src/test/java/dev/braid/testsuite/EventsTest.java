package dev.braid.testsuite;

import dev.braid.BraidServer;
import dev.braid.Connection;
import dev.braid.HandlerMode;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EventsTest extends TransportTest {
    static final Procedure TICK = Procedure.of(0x4444, 1, 10);
    static final Procedure HELLO_FROM_CLIENT = Procedure.of(0x4444, 1, 11);
    static final Procedure SUBSCRIBE = Procedure.of(0x4444, 1, 1);
    static final Procedure NOBODY_LISTENS = Procedure.of(0x4444, 1, 12);

    @Test
    void eventsFlowBothWaysInOrder() throws Exception {
        final int n = 2000;
        final List<Integer> atServer = Collections.synchronizedList(new ArrayList<>());
        final CountDownLatch serverGotAll = new CountDownLatch(n);
        final CompletableFuture<Peer> client = new CompletableFuture<>();
        final BraidServer server = server(s -> s
                .onEvent(HELLO_FROM_CLIENT, e -> {
                    atServer.add(e.payload().getInt(0));
                    serverGotAll.countDown();
                })
                .handle(SUBSCRIBE, call -> {
                    client.complete(call.peer());
                    call.reply(new byte[0]);
                }));
        final Connection c = connect(server);
        final List<Integer> atClient = Collections.synchronizedList(new ArrayList<>());
        final CountDownLatch clientGotAll = new CountDownLatch(n);
        c.onEvent(TICK, e -> {
            assertThat(e.procedure()).isEqualTo(TICK);
            atClient.add(e.payload().getInt(0));
            clientGotAll.countDown();
        });
        c.call(SUBSCRIBE, new byte[0]);
        final Peer toClient = client.get(10, TimeUnit.SECONDS);
        for (int i = 0; i < n; i++) {
            toClient.sendEvent(TICK, ByteBuffer.allocate(4).putInt(0, i));
            c.sendEvent(HELLO_FROM_CLIENT, ByteBuffer.allocate(4).putInt(0, i));
        }
        assertThat(clientGotAll.await(20, TimeUnit.SECONDS)).isTrue();
        assertThat(serverGotAll.await(20, TimeUnit.SECONDS)).isTrue();
        for (int i = 0; i < n; i++) {
            assertThat(atClient.get(i)).isEqualTo(i);
            assertThat(atServer.get(i)).isEqualTo(i);
        }
        assertThat(c.stats().eventsSent()).isEqualTo(n);
        assertThat(c.stats().eventsReceived()).isEqualTo(n);
        assertThat(toClient.stats().eventsSent()).isEqualTo(n);
    }

    @Test
    void eventsWithoutListenerAreDroppedAndCounted() throws Exception {
        final CountDownLatch got = new CountDownLatch(1);
        final BraidServer server = server(s -> s.onEvent(TICK, e -> got.countDown(), HandlerMode.NON_BLOCKING));
        final Connection c = connect(server);
        c.sendEvent(NOBODY_LISTENS, ByteBuffer.wrap(new byte[100]));
        c.sendEvent(TICK, 3, dst -> dst.put(new byte[]{1, 2, 3}));
        assertThat(got.await(10, TimeUnit.SECONDS)).isTrue();
        final Peer p = server.connections().get(0);
        assertThat(p.stats().eventsDropped()).isEqualTo(1);
        assertThat(p.stats().eventsReceived()).isEqualTo(1);
    }

    /** libvirtd sends its events with serial 1; braid ignores a MESSAGE's serial, as libvirt's client does. */
    @Test
    void eventsWithANonZeroSerialFromALibvirtPeerAreDelivered() throws Exception {
        try (ScriptedServer libvirtd = new ScriptedServer()) {
            final CompletableFuture<Connection> connecting = clientBraid().connectAsync(libvirtd.address());
            final ByteBuffer hello = libvirtd.readFrame();
            final dev.braid.RemoteError refusal = dev.braid.RemoteError.of(39, 7, "Cannot find program 1651665252 version 1");
            final ByteBuffer err = ByteBuffer.allocate(dev.braid.internal.wire.RemoteErrorCodec.encodedSize(refusal));
            dev.braid.internal.wire.RemoteErrorCodec.encode(refusal, err);
            libvirtd.write(ScriptedServer.frame(dev.braid.internal.wire.Extension.PROGRAM, 1, 1,
                    dev.braid.internal.wire.FrameHeader.TYPE_REPLY, hello.getInt(dev.braid.internal.wire.FrameHeader.SERIAL_OFFSET),
                    dev.braid.internal.wire.FrameHeader.STATUS_ERROR, err.array()));
            final Connection c = connecting.get(10, TimeUnit.SECONDS);
            closeLater(c::abort);
            final CompletableFuture<Integer> got = new CompletableFuture<>();
            final Procedure lifecycle = Procedure.of(0x20008086, 1, 107);
            c.onEvent(lifecycle, e -> got.complete(e.payload().getInt(0)));
            libvirtd.write(ScriptedServer.frame(0x20008086, 1, 107, dev.braid.internal.wire.FrameHeader.TYPE_MESSAGE, 1,
                    dev.braid.internal.wire.FrameHeader.STATUS_OK, new byte[]{0, 0, 0, 5}));
            assertThat(got.get(10, TimeUnit.SECONDS)).isEqualTo(5);
            assertThat(c.isOpen()).isTrue();
        }
    }

    /** A slow listener makes the connection stop reading, so queued events stay bounded; none is lost. */
    @Test
    void aSlowListenerBoundsWhatIsQueuedForIt() throws Exception {
        final int n = 400;
        final CountDownLatch gate = new CountDownLatch(1);
        final java.util.concurrent.atomic.AtomicInteger got = new java.util.concurrent.atomic.AtomicInteger();
        final BraidServer server = server(s -> s.onEvent(TICK, e -> {
            gate.await();
            got.incrementAndGet();
        }));
        // The client gets its own pool: what is measured here is what the server holds for its stuck listener.
        final dev.braid.buffer.BufferPool clientPool = new dev.braid.buffer.BufferPool();
        final Connection c = connect(config(false).bufferPool(clientPool).maxQueuedEventBytes(Long.MAX_VALUE), server);
        final Thread sender = Thread.ofVirtual().start(() -> {
            for (int i = 0; i < n; i++) {
                c.sendEvent(TICK, ByteBuffer.allocate(256 * 1024)); // 100 MiB in all
            }
        });
        // Past 8 MiB of queued events the server must stop reading; a server that did not would go on to take
        // in the whole 100 MiB. Watch its memory from that point on.
        final Peer atServer = onlyConnection(server);
        Await.until("the server read 8 MiB of events", () -> atServer.stats().bytesRead() > 8L << 20,
                () -> atServer.stats().bytesRead() + " bytes read");
        Await.during("the server's pooled memory stays below 32 MiB while its listener is stuck",
                Duration.ofMillis(500), () -> pool.allocatedBytes() < 32L << 20,
                () -> pool.allocatedBytes() + " bytes pooled, " + atServer.stats().bytesRead() + " bytes read");
        gate.countDown();
        sender.join();
        Await.until("the listener got all " + n + " events", () -> got.get() == n, got::get);
        assertThat(got.get()).isEqualTo(n);
        c.close();
        dev.braid.testing.LeakChecks.assertNoOutstandingBuffers(clientPool);
    }

    @Test
    void eventsAreRefusedWithTheLimitNamedWhenThePeerDoesNotRead() throws Exception {
        final CountDownLatch gate = new CountDownLatch(1);
        final BraidServer server = server(s -> s.onEvent(TICK, e -> gate.await()));
        final Connection c = connect(config(false).maxQueuedEventBytes(4L << 20), server);
        assertThatThrownBy(() -> {
            for (int i = 0; i < 10_000; i++) {
                c.sendEvent(TICK, ByteBuffer.allocate(64 * 1024));
            }
        }).isInstanceOfSatisfying(dev.braid.LimitExceededException.class, e -> {
            assertThat(e.limit()).isEqualTo("maxQueuedEventBytes");
            assertThat(e.getMessage()).contains("the peer is not reading");
        });
        gate.countDown();
    }

    @Test
    void aFailingListenerDoesNotStopLaterEvents() throws Exception {
        final CountDownLatch second = new CountDownLatch(1);
        final BraidServer server = server(s -> s.onEvent(TICK, e -> {
            if (e.payload().get(0) == 0) {
                throw new IllegalStateException("first event fails on purpose");
            }
            second.countDown();
        }));
        final Connection c = connect(server);
        c.sendEvent(TICK, ByteBuffer.wrap(new byte[]{0}));
        c.sendEvent(TICK, ByteBuffer.wrap(new byte[]{1}));
        assertThat(second.await(10, TimeUnit.SECONDS)).isTrue();
    }
}
