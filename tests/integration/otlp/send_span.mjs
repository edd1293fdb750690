// Sends one span through the official OpenTelemetry JS SDK and its OTLP/HTTP protobuf exporter
// to the URL given, then prints the span's ids as JSON: the tests' receiver must decode it.
import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";

const url = process.argv[2];
const exporter = new OTLPTraceExporter({ url });
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ "service.name": "otel-js-honesty" }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer("honesty-check", "1.0.0");
const parent = tracer.startSpan("parent", { kind: SpanKind.SERVER });
const span = tracer.startSpan(
  "GET",
  { kind: SpanKind.CLIENT, attributes: { "http.request.method": "GET", "http.response.status_code": 503, "retry": true, "ratio": 0.5 } },
  trace.setSpan(context.active(), parent),
);
span.setStatus({ code: SpanStatusCode.ERROR, message: "upstream failed" });
span.end();
parent.end();
await provider.forceFlush();
await provider.shutdown();
const c = span.spanContext(), p = parent.spanContext();
console.log(JSON.stringify({ trace_id: c.traceId, span_id: c.spanId, parent_span_id: p.spanId }));
