package dev.braid.examples;

import dev.braid.Braid;
import dev.braid.Connection;
import dev.braid.Procedure;
import dev.braid.ProcedureDescriptor;
import dev.braid.xdr.XdrCodec;
import dev.braid.xdr.XdrReader;
import dev.braid.xdr.XdrWriter;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.util.HexFormat;
import java.util.List;

/**
 * A libvirt client on braid: lists a daemon's domains with their state, then prints one domain's XML. It
 * speaks libvirt's remote program (src/remote/remote_protocol.x) with typed procedures whose XDR codecs are
 * written here, field by field. Try it on libvirt's test driver:
 *
 * <pre>scripts/example list-domains 127.0.0.1:$(scripts/libvirtd-test-peer.sh) [domain]</pre>
 */
public final class ListDomains {
    static final int REMOTE = 0x20008086; // libvirt's remote program, version 1
    static final String[] STATES = {"no state", "running", "blocked", "paused", "shutting down", "shut off",
            "crashed", "suspended (PM)"};

    /** remote_nonnull_domain { remote_nonnull_string name; remote_uuid uuid; int id; } */
    record Domain(String name, byte[] uuid, int id) {
        String uuidText() {
            final String h = HexFormat.of().formatHex(uuid);
            return h.substring(0, 8) + "-" + h.substring(8, 12) + "-" + h.substring(12, 16) + "-"
                    + h.substring(16, 20) + "-" + h.substring(20);
        }
    }

    static final XdrCodec<Domain> DOMAIN = XdrCodec.of(
            d -> XdrWriter.sizeOfString(d.name()) + 16 + 4,
            (d, b) -> {
                XdrWriter.writeString(b, d.name());
                XdrWriter.writeFixedOpaque(b, d.uuid());
                XdrWriter.writeInt(b, d.id());
            },
            b -> new Domain(XdrReader.readString(b, "name"), XdrReader.readFixedOpaque(b, 16, "uuid"),
                    XdrReader.readInt(b, "id")));

    /** The common argument shape { remote_nonnull_domain dom; unsigned int flags; }, flags 0. */
    static final XdrCodec<Domain> DOMAIN_FLAGS = XdrCodec.of(d -> DOMAIN.size(d) + 4,
            (d, b) -> {
                DOMAIN.write(d, b);
                XdrWriter.writeInt(b, 0);
            }, b -> null);

    record State(int state, int reason) {
        @Override
        public String toString() {
            return (state >= 0 && state < STATES.length ? STATES[state] : "state " + state) + " (reason " + reason + ")";
        }
    }

    /** REMOTE_PROC_CONNECT_OPEN: { remote_string name; unsigned int flags; } -> void */
    static final ProcedureDescriptor<String, Void> CONNECT_OPEN = ProcedureDescriptor.of(remote(1),
            XdrCodec.of(uri -> XdrWriter.sizeOfOptionalString(uri) + 4, (uri, b) -> {
                XdrWriter.writeOptionalString(b, uri);
                XdrWriter.writeInt(b, 0);
            }, b -> null), XdrCodec.VOID);
    /** REMOTE_PROC_CONNECT_CLOSE: void -> void */
    static final ProcedureDescriptor<Void, Void> CONNECT_CLOSE = ProcedureDescriptor.of(remote(2), XdrCodec.VOID,
            XdrCodec.VOID);
    /** REMOTE_PROC_CONNECT_LIST_ALL_DOMAINS: { int need_results; unsigned flags; } -> { domains<>; unsigned ret; } */
    static final ProcedureDescriptor<Void, List<Domain>> LIST_ALL_DOMAINS = ProcedureDescriptor.of(remote(273),
            XdrCodec.of(v -> 8, (v, b) -> b.putInt(1).putInt(0), b -> null),
            XdrCodec.of(l -> 0, (l, b) -> { }, b -> { // only ever read here
                final List<Domain> domains = XdrReader.readArray(b, DOMAIN, 16_384, "domains");
                XdrReader.readInt(b, "ret");
                return domains;
            }));
    /** REMOTE_PROC_DOMAIN_GET_STATE: { dom; flags } -> { int state; int reason; } */
    static final ProcedureDescriptor<Domain, State> GET_STATE = ProcedureDescriptor.of(remote(212), DOMAIN_FLAGS,
            XdrCodec.of(s -> 8, (s, b) -> b.putInt(s.state()).putInt(s.reason()),
                    b -> new State(XdrReader.readInt(b, "state"), XdrReader.readInt(b, "reason"))));
    /** REMOTE_PROC_DOMAIN_GET_XML_DESC: { dom; flags } -> { remote_nonnull_string xml; } */
    static final ProcedureDescriptor<Domain, String> GET_XML_DESC = ProcedureDescriptor.of(remote(14), DOMAIN_FLAGS,
            XdrCodec.STRING);

    private ListDomains() {
    }

    static Procedure remote(final int proc) {
        return Procedure.of(REMOTE, 1, proc);
    }

    /**
     * Runs the example against the daemon named on the command line (or in {@code BRAID_LIBVIRTD}); prints a
     * usage line and exits with status 2 when there is none.
     *
     * @param args {@code HOST:PORT} of a libvirtd listening on TCP without authentication, then optionally
     *             the name of the domain whose XML to print (default: the first listed)
     */
    public static void main(final String[] args) {
        final String where = args.length > 0 ? args[0] : System.getenv("BRAID_LIBVIRTD");
        if (where == null || !where.contains(":")) {
            System.err.println("usage: list-domains HOST:PORT [DOMAIN]   (a libvirtd listening on TCP without auth; "
                    + "scripts/libvirtd-test-peer.sh starts one and prints its port)");
            System.exit(2);
        }
        final int colon = where.lastIndexOf(':');
        run(new InetSocketAddress(where.substring(0, colon), Integer.parseInt(where.substring(colon + 1))),
                args.length > 1 ? args[1] : null, System.out);
    }

    /** Lists the domains of the daemon at {@code daemon} and prints the XML of {@code name} (or the first). */
    static void run(final InetSocketAddress daemon, final String name, final PrintStream out) {
        try (Braid braid = Braid.create(); Connection c = braid.connect(daemon)) {
            out.println("libvirtd at " + daemon.getHostString() + ":" + daemon.getPort() + " ("
                    + (c.extensionsNegotiated() ? "braid extensions" : "libvirt-compatible mode") + ", backend "
                    + c.backendName() + ")");
            c.call(CONNECT_OPEN, "test:///default");
            final List<Domain> domains = c.call(LIST_ALL_DOMAINS, null);
            out.println(domains.size() + " domain(s):");
            for (Domain d : domains) {
                out.printf("  %-12s id %-3s %-28s uuid %s%n", d.name(), d.id() < 0 ? "-" : String.valueOf(d.id()),
                        c.call(GET_STATE, d), d.uuidText());
            }
            final Domain shown = domains.stream().filter(d -> name == null || d.name().equals(name)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("no domain named " + name));
            out.println("XML description of " + shown.name() + ":");
            out.println(c.call(GET_XML_DESC, shown).stripTrailing());
            c.call(CONNECT_CLOSE, null); // libvirtd closes the connection once it has answered
        }
    }
}
