package dev.braid;

/**
 * Serves one procedure. The handler answers with {@link IncomingCall#reply}, or fails with
 * {@link IncomingCall#fail} or by throwing: a thrown exception becomes an ERROR reply carrying a
 * remote_error (a {@link RemoteException}'s own error, or VIR_ERR_INTERNAL_ERROR with the exception's
 * text). A handler that returns without answering, and did not {@link IncomingCall#deferReply() defer},
 * produces an ERROR reply saying so: a call is never dropped.
 */
@FunctionalInterface
public interface CallHandler {
    /**
     * Handles one call.
     *
     * @param call the call: its arguments, its peer, and the means to answer it
     * @throws Exception anything: it becomes an ERROR reply (see above)
     */
    void handle(IncomingCall call) throws Exception;
}
