/**
 * braid: many concurrent RPC calls, events and data streams over one libvirt-compatible TCP connection.
 *
 * <p>{@link dev.braid} is the API ({@link dev.braid.Braid} is where to start), {@link dev.braid.buffer} the
 * pooled buffers that cross it, {@link dev.braid.spi} the interfaces an I/O backend implements. Nothing else
 * is exported: {@code dev.braid.internal.*} may change in any release. A backend is found with
 * {@link java.util.ServiceLoader}: put one of the backend modules ({@code dev.braid.nio}, {@code dev.braid.epoll},
 * {@code dev.braid.loom}) on the module path beside this one.
 */
// requires-automatic: Agrona names its module in its manifest (org.agrona); module: the qualified exports name
// braid's backend modules, which are compiled after this one
@SuppressWarnings({"requires-automatic", "module"})
module dev.braid {
    requires org.agrona;
    requires jdk.jfr; // JDK Flight Recorder events for the rare and the slow (dev.braid.internal.observe)

    exports dev.braid;
    exports dev.braid.buffer;
    exports dev.braid.spi;
    exports dev.braid.xdr;

    // Internal code a backend shares with the engine: visible to braid's own backends only.
    exports dev.braid.internal.concurrent to dev.braid.nio;
    exports dev.braid.internal.backend to dev.braid.nio, dev.braid.epoll, dev.braid.loom;
    // PEM parsing for the OpenSSL engines' keys and trust (the same files and formats as TlsOptions.fromPem).
    exports dev.braid.internal.tls to dev.braid.tls.openssl;

    uses dev.braid.spi.Backend;
    uses dev.braid.spi.TlsEngineProvider;
}
