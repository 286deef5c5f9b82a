import {
  Controller,
  Get,
  HttpCode,
  Inject,
  Module,
  Res,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Response } from 'express';
import type { Registry } from 'prom-client';
import type { HealthRegistry } from './health';
import { ServiceResources } from './service-resources';
import { CODEC, CONFIG, HEALTH, KAFKA, KAFKA_ADMIN, LOGGER, MEMBERSHIP, METRICS, PRODUCER, REDIS } from './tokens';

@Controller('health')
export class HealthController {
  constructor(@Inject(HEALTH) private readonly health: HealthRegistry) {}

  /** Liveness: the process runs its event loop. Never depends on Kafka or Redis. */
  @Get('live')
  @HttpCode(200)
  live() {
    return { status: 'ok' };
  }

  /** Readiness: every dependency answers. 503 with the failing checks otherwise. */
  @Get(['ready', ''])
  async ready(@Res() res: Response) {
    const report = await this.health.report();
    res.status(report.status === 'ok' ? 200 : 503).json(report);
  }
}

@Controller('metrics')
export class MetricsController {
  constructor(@Inject(METRICS) private readonly registry: Registry) {}

  @Get()
  async metrics(@Res() res: Response) {
    res.setHeader('Content-Type', this.registry.contentType);
    res.send(await this.registry.metrics());
  }
}

/** Closes the shared connections after Nest has stopped the transports (their consumers). */
class ResourcesLifecycle implements OnApplicationShutdown {
  constructor(private readonly resources: ServiceResources) {}
  async onApplicationShutdown(): Promise<void> {
    await this.resources.close();
  }
}

/** Health, metrics and the shared connections, for every Vigil service. */
@Module({})
export class PlatformModule {
  static forRoot(resources: ServiceResources): DynamicModule {
    return {
      module: PlatformModule,
      global: true,
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: ServiceResources, useValue: resources },
        { provide: CONFIG, useValue: resources.config },
        { provide: LOGGER, useValue: resources.logger },
        { provide: METRICS, useValue: resources.metrics },
        { provide: HEALTH, useValue: resources.health },
        { provide: KAFKA, useValue: resources.kafka },
        { provide: KAFKA_ADMIN, useValue: resources.admin },
        { provide: CODEC, useValue: resources.codec },
        { provide: PRODUCER, useValue: resources.producer },
        { provide: REDIS, useValue: resources.redis },
        { provide: MEMBERSHIP, useValue: resources.membership },
        { provide: ResourcesLifecycle, useFactory: () => new ResourcesLifecycle(resources) },
      ],
      exports: [
        ServiceResources,
        CONFIG,
        LOGGER,
        METRICS,
        HEALTH,
        KAFKA,
        KAFKA_ADMIN,
        CODEC,
        PRODUCER,
        REDIS,
        MEMBERSHIP,
      ],
    };
  }
}
