package dev.braid;

/** The peer answered a call with an ERROR reply. {@link #error()} holds every field of its remote_error. */
public final class RemoteException extends BraidException {
    private static final long serialVersionUID = 1L;

    /** The peer's remote_error. */
    private final transient RemoteError error;

    /**
     * An ERROR reply's error.
     *
     * @param error the remote_error the peer sent
     */
    public RemoteException(final RemoteError error) {
        super(Category.REMOTE, describe(error));
        this.error = error;
    }

    private static String describe(final RemoteError e) {
        return (e.message() == null ? "remote error without message" : e.message())
                + " (code " + e.code() + ", domain " + e.domain() + ", level " + e.level() + ")";
    }

    /** {@return the peer's remote_error, every field of it} */
    public RemoteError error() {
        return error;
    }

    /** {@return the remote_error's code (libvirt's {@code VIR_ERR_*})} */
    public int code() {
        return error.code();
    }

    /** {@return the remote_error's domain (libvirt's {@code VIR_FROM_*})} */
    public int domain() {
        return error.domain();
    }

    /**
     * {@return the remote_error's level (libvirt's {@code VIR_ERR_WARNING} or {@code VIR_ERR_ERROR})}
     */
    public int level() {
        return error.level();
    }

    /**
     * The remote message, or null if the peer sent none.
     *
     * @return the message
     */
    public String remoteMessage() {
        return error.message();
    }
}
