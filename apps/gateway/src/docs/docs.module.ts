// API documents of a gateway: OpenAPI at /docs (mounted in main.ts) and AsyncAPI at /asyncapi.json.
import { Module } from '@nestjs/common';
import { DocsController } from './docs.controller.js';

@Module({ controllers: [DocsController] })
export class DocsModule {}
