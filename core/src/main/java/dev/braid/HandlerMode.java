package dev.braid;

/** Where a handler or listener runs. */
public enum HandlerMode {
    /** On the handler executor (a virtual thread per call by default). The handler may block. */
    BLOCKING,
    /**
     * Directly on the connection's I/O thread. The handler must not block, nor do much work: while it
     * runs, no other frame of that connection (or of others on the same event loop) is read. This is braid's
     * allocation-free serving path: the {@link IncomingCall} of a plain call answered before the handler
     * returns is recycled for the next call (see {@link IncomingCall} for what that means for references).
     */
    NON_BLOCKING
}
