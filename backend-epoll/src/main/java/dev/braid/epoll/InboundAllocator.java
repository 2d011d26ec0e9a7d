package dev.braid.epoll;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.DefaultMaxMessagesRecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;

/**
 * The receive-buffer allocator of one connection's channel: each read goes where {@link EpollConnection}
 * says, normally a view of the handler's {@code inboundBuffer()} (see {@link EpollConnection}, "Read path").
 * Up to {@code maxReadsPerEvent} reads per readiness event, and none after the connection suspended reading
 * or was asked to close. Netty calls it on the channel's loop thread only.
 */
final class InboundAllocator extends DefaultMaxMessagesRecvByteBufAllocator {
    private final EpollConnection connection;

    InboundAllocator(final EpollConnection connection, final int maxReadsPerEvent) {
        super(maxReadsPerEvent);
        this.connection = connection;
    }

    @Override
    public ExtendedHandle newHandle() {
        return new ReadHandle();
    }

    private final class ReadHandle extends MaxMessageHandle {
        @Override
        public ByteBuf allocate(final ByteBufAllocator alloc) {
            return connection.readBuffer(alloc);
        }

        @Override
        public int guess() {
            return 64 * 1024; // not used to size reads: the handler's buffer does
        }

        @Override
        public boolean continueReading(final UncheckedBooleanSupplier maybeMoreDataSupplier) {
            return connection.mayReadMore() && super.continueReading(maybeMoreDataSupplier);
        }
    }
}
