package dev.braid.internal.engine;

import dev.braid.Event;
import dev.braid.Peer;
import dev.braid.Procedure;
import dev.braid.buffer.PooledBuffer;
import dev.braid.internal.wire.Frames;

import java.nio.ByteBuffer;

/** An event handed to a listener; owns its frame until {@link #release()} after the callback. */
final class EventImpl implements Event {
    private final Procedure procedure;
    private final PooledBuffer frame;
    private final Peer peer;

    EventImpl(final Procedure procedure, final PooledBuffer frame, final Peer peer) {
        this.procedure = procedure;
        this.frame = frame;
        this.peer = peer;
    }

    @Override
    public Procedure procedure() {
        return procedure;
    }

    @Override
    public ByteBuffer payload() {
        return Frames.payloadView(frame);
    }

    @Override
    public Peer peer() {
        return peer;
    }

    void release() {
        frame.release();
    }
}
