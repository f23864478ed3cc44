#!/usr/bin/env bash
# Builds the oracles and writes their classpath to target/classpath.txt. Offline first, from
# the local Maven repository; the first run on a machine resolves Kafka's jars from Maven
# Central. The KRaft controller's and the transaction coordinator's oracles need Kafka's 4.0
# line and are a module of their own (kraft/, with kraft/target/classpath.txt), so the others
# stay on the release in pom.xml.
set -euo pipefail
cd "$(dirname "$0")"
build() {
    mvn -q "$@" compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
}
build -o >/dev/null 2>&1 || build
echo "conformance: built against Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' pom.xml)"
(
    cd kraft
    build -o >/dev/null 2>&1 || build
    echo "conformance/kraft: built against Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' pom.xml)"
)
