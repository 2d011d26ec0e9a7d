package dev.braid.internal.concurrent;

/**
 * The intrusive link {@link MpscBufferQueue} threads through the buffers it holds, kept in this internal
 * package so the public {@code PooledBuffer} carries no queue machinery in its API: the field is
 * package-private here, invisible to users and reachable only by the queue.
 *
 * <p><b>Threads.</b> Plain field. A producer writes it before publishing the node with a release CAS; the
 * consumer reads it after an acquiring swap (see {@link MpscBufferQueue}). Nobody else touches it.
 */
public abstract class QueueLink {
    /** The next node while this one sits in a queue; null otherwise. */
    QueueLink next;

    protected QueueLink() {
    }
}
