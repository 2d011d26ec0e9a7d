package dev.braid.epoll;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.UnpooledDirectByteBuf;

import java.nio.ByteBuffer;

/**
 * A reusable Netty view of one braid buffer, from index 0 to the limit it had when the view was made, so
 * {@code recv} writes into braid's memory (see {@link EpollConnection}). Reused for every read into the same
 * buffer: a read sets both indices to the buffer's position and Netty's {@code recv} fills from there, so
 * the read path allocates nothing per read.
 *
 * <p>It reports no memory address: Netty's read then takes the {@code ByteBuffer} form of {@code recv}
 * (the native side finds the address itself), instead of asking for an address, which without
 * {@code sun.misc.Unsafe} (the default on JDK 25) costs a {@code MemorySegment} per read. Releasing the view
 * frees nothing: the memory is braid's. Loop thread only.
 */
final class InboundView extends UnpooledDirectByteBuf {
    /** The braid buffer shown (identity) and the limit the view was made for. */
    final ByteBuffer base;
    final int limit;

    InboundView(final ByteBuffer base) {
        super(ByteBufAllocator.DEFAULT, base.duplicate().clear().limit(base.limit()), base.limit());
        this.base = base;
        this.limit = base.limit();
    }

    @Override
    public boolean hasMemoryAddress() {
        return false;
    }

    @Override
    public long memoryAddress() {
        throw new UnsupportedOperationException("braid's inbound views read through ByteBuffer");
    }
}
