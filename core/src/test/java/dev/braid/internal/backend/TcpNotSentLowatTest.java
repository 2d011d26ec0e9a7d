package dev.braid.internal.backend;

import dev.braid.testing.Await;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code TCP_NOTSENT_LOWAT} on a java.nio channel: the address format of /proc/net/tcp*, and on this machine
 * (Linux, Java 22+) the bound itself, seen the way it matters: how much a socket whose peer never reads
 * takes before a non-blocking write returns 0.
 */
class TcpNotSentLowatTest {
    private static final long WAIT_SECONDS = 30;

    @Test
    void addressesAreWrittenAsProcNetTcpWritesThem() throws Exception {
        final boolean little = java.nio.ByteOrder.nativeOrder() == java.nio.ByteOrder.LITTLE_ENDIAN;
        assertThat(TcpNotSentLowat.procAddress(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 8080)))
                .isEqualTo(little ? "0100007F:1F90" : "7F000001:1F90");
        assertThat(TcpNotSentLowat.procAddress(new InetSocketAddress(InetAddress.getByName("::1"), 22)))
                .isEqualTo(little ? "00000000000000000000000001000000:0016" : "00000000000000000000000000000001:0016");
    }

    @Test
    void theBoundHoldsWhatAPeerThatDoesNotReadLeavesUnsentAndZeroLiftsIt() throws Exception {
        assumeTrue(TcpNotSentLowat.available(), "Linux and Java 22+ only");
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
             SocketChannel c = SocketChannel.open(listener.getLocalAddress());
             SocketChannel peer = listener.accept()) {
            assertThat(peer.isConnected()).isTrue(); // and it never reads
            c.setOption(StandardSocketOptions.SO_SNDBUF, 4 << 20);
            c.configureBlocking(false);
            final TcpNotSentLowat lowat = new TcpNotSentLowat(c, Runnable::run);
            lowat.request(16 * 1024);
            Await.until("the option is set", () -> lowat.applied() == 16 * 1024);
            final long bounded = fill(c);
            // the peer's receive queue (it never reads) + 16 KiB unsent + one segment of slack; 8 MB without
            assertThat(bounded).isLessThan(2L << 20);
            lowat.request(0);
            Await.until("the option is back to the system's", () -> lowat.applied() == 0);
            assertThat(fill(c)).as("more fits once the bound is gone").isGreaterThan(2L << 20);
        }
    }

    @Test
    void aClosedChannelIsLeftAlone() throws Exception {
        assumeTrue(TcpNotSentLowat.available(), "Linux and Java 22+ only");
        try (ServerSocketChannel listener = ServerSocketChannel.open().bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            final SocketChannel c = SocketChannel.open(listener.getLocalAddress());
            try (SocketChannel peer = listener.accept()) {
                assertThat(peer.isConnected()).isTrue();
                final java.util.concurrent.LinkedBlockingQueue<Runnable> owner = new java.util.concurrent.LinkedBlockingQueue<>();
                final TcpNotSentLowat lowat = new TcpNotSentLowat(c, owner::add);
                lowat.request(16 * 1024);
                final Runnable apply = owner.poll(WAIT_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
                assertThat(apply).as("the descriptor was found and the set handed to the owner").isNotNull();
                c.close();
                apply.run(); // the owner runs it after the close: the descriptor may be another socket's by now
                assertThat(lowat.applied()).isEqualTo(-1);
            } finally {
                c.close();
            }
        }
    }

    /** Writes until the socket takes no more; {@return how much it took} */
    private static long fill(final SocketChannel c) throws Exception {
        final ByteBuffer b = ByteBuffer.allocateDirect(64 * 1024);
        long n = 0;
        int w;
        while ((w = c.write(b.clear())) > 0) {
            n += w;
        }
        return n;
    }
}
