# Sourced by braid's scripts: finds a JDK 21 or newer and exports JAVA_HOME and PATH for it.
# Order: $JAVA_HOME, the `java` on PATH, then JDKs installed under /usr/lib/jvm, /usr/java, /opt and
# ~/.sdkman (newest first). Fails with a message saying what to install.

braid_java_version() { # prints the feature version (17, 21, 25...) of the java binary $1, or nothing
    "$1" -XshowSettings:properties -version 2>&1 \
        | sed -n 's/^ *java\.specification\.version = \(1\.\)\{0,1\}\([0-9][0-9]*\).*/\2/p' | head -n 1
}

braid_find_jdk() {
    local candidate version
    for candidate in "${JAVA_HOME:-}" \
                     "$(command -v javac >/dev/null 2>&1 && dirname "$(dirname "$(readlink -f "$(command -v javac)")")")" \
                     $(ls -d /usr/lib/jvm/* /usr/java/* /opt/*jdk* /opt/java/* "$HOME"/.sdkman/candidates/java/* 2>/dev/null | sort -rV); do
        [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] && [ -x "$candidate/bin/javac" ] || continue
        version=$(braid_java_version "$candidate/bin/java")
        if [ -n "$version" ] && [ "$version" -ge 21 ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if ! BRAID_JDK=$(braid_find_jdk); then
    echo "braid: no JDK 21 or newer found (looked at \$JAVA_HOME${JAVA_HOME:+=$JAVA_HOME}, the javac on PATH," >&2
    echo "       /usr/lib/jvm, /usr/java, /opt and ~/.sdkman). braid builds with JDK 21+ (25 recommended):" >&2
    echo "       install one, e.g. 'apt-get install openjdk-25-jdk' or Temurin 25 from https://adoptium.net," >&2
    echo "       then point JAVA_HOME at it." >&2
    exit 1
fi
export JAVA_HOME="$BRAID_JDK"
export PATH="$JAVA_HOME/bin:$PATH"
# Maven itself is not needed: the scripts run ./mvnw, which fetches the Maven version that
# .mvn/wrapper/maven-wrapper.properties names into ~/.m2/wrapper on first use.
