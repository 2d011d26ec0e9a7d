package dev.braid.epoll;

import io.netty.channel.FileRegion;

import java.nio.channels.WritableByteChannel;

/**
 * How {@link EpollConnection}'s writer waits for EPOLLOUT through Netty's public write path: a
 * {@link FileRegion} that carries no bytes of its own. Written to the channel when the socket stopped taking
 * bytes, it makes Netty call {@link #transferTo} (which runs the connection's writer) until that reports
 * progress or completion, arming EPOLLOUT in between. Once the writer has nothing left, {@link #complete()}
 * makes {@link #transferred()} reach {@link #count()} and Netty removes the region and releases it;
 * {@link #release()} tells the connection.
 *
 * <p>One instance per connection, reused: it is never deallocated, so the reference count is fixed at 1 and
 * {@code release} returns false. Loop thread only.
 */
final class WriteWhenWritable implements FileRegion {
    private final EpollConnection connection;
    private boolean complete;

    WriteWhenWritable(final EpollConnection connection) {
        this.connection = connection;
    }

    /** Before each hand-off to Netty. */
    void arm() {
        complete = false;
    }

    void complete() {
        complete = true;
    }

    @Override
    public long transferTo(final WritableByteChannel target, final long position) {
        return connection.writeWhenWritable(); // bytes written from braid's buffers; 0 when the socket is still full
    }

    @Override
    public long position() {
        return 0;
    }

    @Override
    public long count() {
        return Long.MAX_VALUE;
    }

    @Override
    public long transferred() {
        return complete ? Long.MAX_VALUE : 0;
    }

    @Deprecated
    @Override
    public long transfered() {
        return transferred();
    }

    @Override
    public int refCnt() {
        return 1;
    }

    @Override
    public FileRegion retain() {
        return this;
    }

    @Override
    public FileRegion retain(final int increment) {
        return this;
    }

    @Override
    public FileRegion touch() {
        return this;
    }

    @Override
    public FileRegion touch(final Object hint) {
        return this;
    }

    /** Netty is done with the region: removed after completion, or failed because the channel closed. */
    @Override
    public boolean release() {
        connection.writableRegionReleased();
        return false;
    }

    @Override
    public boolean release(final int decrement) {
        return release();
    }
}
