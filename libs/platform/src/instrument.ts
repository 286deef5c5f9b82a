// Imported first by each service's main, before anything loads express, http or ioredis: the
// maintained instrumentations patch modules as they are required, so they are registered before
// those are. They use the global tracer provider that startTracing registers later; with tracing
// off nothing is patched at all.
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { tracingRequested, vigilInstrumentations } from './instrumentations';

if (tracingRequested()) registerInstrumentations({ instrumentations: vigilInstrumentations() });
