// The demo fleet as a worker module; it needs the global config module.
import { Module } from '@nestjs/common';
import { DemoFleetService } from './demo-fleet.service.js';

@Module({ providers: [DemoFleetService] })
export class DemoModule {}
