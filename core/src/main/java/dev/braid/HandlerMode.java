package dev.braid;

/** Where a handler or listener runs. */
public enum HandlerMode {
    /** On the handler executor (a virtual thread per call by default). The handler may block. */
    BLOCKING,
    /**
     * Directly on the connection's I/O thread. The handler must not block, nor do much work: while it
     * runs, no other frame of that connection (or of others on the same event loop) is read.
     */
    NON_BLOCKING
}
