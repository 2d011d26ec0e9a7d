package dev.braid;

/** The peer answered a call with an ERROR reply. {@link #error()} holds every field of its remote_error. */
public final class RemoteException extends BraidException {
    private static final long serialVersionUID = 1L;

    private final transient RemoteError error;

    public RemoteException(final RemoteError error) {
        super(Category.REMOTE, describe(error));
        this.error = error;
    }

    private static String describe(final RemoteError e) {
        return (e.message() == null ? "remote error without message" : e.message())
                + " (code " + e.code() + ", domain " + e.domain() + ", level " + e.level() + ")";
    }

    public RemoteError error() {
        return error;
    }

    public int code() {
        return error.code();
    }

    public int domain() {
        return error.domain();
    }

    public int level() {
        return error.level();
    }

    /** The remote message, or null if the peer sent none. */
    public String remoteMessage() {
        return error.message();
    }
}
